"""Contains all the data models used in inputs/outputs"""

from .account_list import AccountList
from .account_response import AccountResponse
from .api_key_response import ApiKeyResponse
from .attachment import Attachment
from .attempt_response import AttemptResponse
from .callback_response import CallbackResponse
from .create_account_request import CreateAccountRequest
from .create_api_key_request import CreateApiKeyRequest
from .create_merchant_request import CreateMerchantRequest
from .delivery_list import DeliveryList
from .delivery_response import DeliveryResponse
from .dlq_query import DlqQuery
from .erasure_report import ErasureReport
from .error_body import ErrorBody
from .error_detail import ErrorDetail
from .history_entry import HistoryEntry
from .ingest_response import IngestResponse
from .merchant_response import MerchantResponse
from .message_list import MessageList
from .message_status_response import MessageStatusResponse
from .quick_reply import QuickReply
from .redrive_response import RedriveResponse
from .scope import Scope
from .send_message_request import SendMessageRequest
from .send_message_response import SendMessageResponse
from .start_response import StartResponse
from .status_transition import StatusTransition
from .update_account_request import UpdateAccountRequest

__all__ = (
    "AccountList",
    "AccountResponse",
    "ApiKeyResponse",
    "Attachment",
    "AttemptResponse",
    "CallbackResponse",
    "CreateAccountRequest",
    "CreateApiKeyRequest",
    "CreateMerchantRequest",
    "DeliveryList",
    "DeliveryResponse",
    "DlqQuery",
    "ErasureReport",
    "ErrorBody",
    "ErrorDetail",
    "HistoryEntry",
    "IngestResponse",
    "MerchantResponse",
    "MessageList",
    "MessageStatusResponse",
    "QuickReply",
    "RedriveResponse",
    "Scope",
    "SendMessageRequest",
    "SendMessageResponse",
    "StartResponse",
    "StatusTransition",
    "UpdateAccountRequest",
)

"""Contains all the data models used in inputs/outputs"""

from .account_list import AccountList
from .account_response import AccountResponse
from .analytics_bucket import AnalyticsBucket
from .analytics_bucket_failures import AnalyticsBucketFailures
from .analytics_report import AnalyticsReport
from .api_key_response import ApiKeyResponse
from .attachment import Attachment
from .attachment_type import AttachmentType
from .attempt_response import AttemptResponse
from .button_template import ButtonTemplate
from .button_type_0 import ButtonType0
from .button_type_0_type import ButtonType0Type
from .button_type_1 import ButtonType1
from .button_type_1_type import ButtonType1Type
from .callback_response import CallbackResponse
from .card import Card
from .create_account_request import CreateAccountRequest
from .create_account_request_event_types_type_0_item import CreateAccountRequestEventTypesType0Item
from .create_api_key_request import CreateApiKeyRequest
from .create_api_key_request_environment_type_1 import CreateApiKeyRequestEnvironmentType1
from .create_api_key_request_environment_type_2_type_1 import CreateApiKeyRequestEnvironmentType2Type1
from .create_api_key_request_environment_type_3_type_1 import CreateApiKeyRequestEnvironmentType3Type1
from .create_api_key_request_scopes_item import CreateApiKeyRequestScopesItem
from .create_endpoint_request import CreateEndpointRequest
from .create_endpoint_request_event_types_type_0_item import CreateEndpointRequestEventTypesType0Item
from .create_merchant_request import CreateMerchantRequest
from .create_template_request import CreateTemplateRequest
from .delivery_list import DeliveryList
from .delivery_response import DeliveryResponse
from .dlq_query import DlqQuery
from .dlq_query_event_type_type_1 import DlqQueryEventTypeType1
from .dlq_query_event_type_type_2_type_1 import DlqQueryEventTypeType2Type1
from .dlq_query_event_type_type_3_type_1 import DlqQueryEventTypeType3Type1
from .dlq_query_reason_type_1 import DlqQueryReasonType1
from .dlq_query_reason_type_2_type_1 import DlqQueryReasonType2Type1
from .dlq_query_reason_type_3_type_1 import DlqQueryReasonType3Type1
from .endpoint_list import EndpointList
from .endpoint_response import EndpointResponse
from .erasure_report import ErasureReport
from .error_body import ErrorBody
from .error_code import ErrorCode
from .error_detail import ErrorDetail
from .generic_template import GenericTemplate
from .history_entry import HistoryEntry
from .ice_breaker import IceBreaker
from .ice_breakers import IceBreakers
from .image_attachment import ImageAttachment
from .image_attachment_type import ImageAttachmentType
from .ingest_response import IngestResponse
from .merchant_response import MerchantResponse
from .message_list import MessageList
from .message_status_response import MessageStatusResponse
from .persistent_menu import PersistentMenu
from .quick_reply import QuickReply
from .redrive_response import RedriveResponse
from .scope import Scope
from .send_message_request import SendMessageRequest
from .send_message_request_tag_type_1 import SendMessageRequestTagType1
from .send_message_request_tag_type_2_type_1 import SendMessageRequestTagType2Type1
from .send_message_request_tag_type_3_type_1 import SendMessageRequestTagType3Type1
from .send_message_request_variables_type_0 import SendMessageRequestVariablesType0
from .send_message_response import SendMessageResponse
from .sender_action_request import SenderActionRequest
from .sender_action_request_action import SenderActionRequestAction
from .start_response import StartResponse
from .status_transition import StatusTransition
from .template_list import TemplateList
from .template_request import TemplateRequest
from .template_response import TemplateResponse
from .template_used import TemplateUsed
from .template_variable import TemplateVariable
from .template_variable_type import TemplateVariableType
from .update_account_request import UpdateAccountRequest
from .update_account_request_event_types_type_0_item import UpdateAccountRequestEventTypesType0Item
from .update_account_request_status_type_1 import UpdateAccountRequestStatusType1
from .update_account_request_status_type_2_type_1 import UpdateAccountRequestStatusType2Type1
from .update_account_request_status_type_3_type_1 import UpdateAccountRequestStatusType3Type1
from .update_endpoint_request import UpdateEndpointRequest
from .update_endpoint_request_event_types_type_0_item import UpdateEndpointRequestEventTypesType0Item
from .v1_admin_dlq_list_event_type import V1AdminDlqListEventType
from .v1_admin_dlq_list_reason import V1AdminDlqListReason
from .v1_analytics_get_granularity import V1AnalyticsGetGranularity
from .v1_webhook_deliveries_list_status import V1WebhookDeliveriesListStatus

__all__ = (
    "AccountList",
    "AccountResponse",
    "AnalyticsBucket",
    "AnalyticsBucketFailures",
    "AnalyticsReport",
    "ApiKeyResponse",
    "Attachment",
    "AttachmentType",
    "AttemptResponse",
    "ButtonTemplate",
    "ButtonType0",
    "ButtonType0Type",
    "ButtonType1",
    "ButtonType1Type",
    "CallbackResponse",
    "Card",
    "CreateAccountRequest",
    "CreateAccountRequestEventTypesType0Item",
    "CreateApiKeyRequest",
    "CreateApiKeyRequestEnvironmentType1",
    "CreateApiKeyRequestEnvironmentType2Type1",
    "CreateApiKeyRequestEnvironmentType3Type1",
    "CreateApiKeyRequestScopesItem",
    "CreateEndpointRequest",
    "CreateEndpointRequestEventTypesType0Item",
    "CreateMerchantRequest",
    "CreateTemplateRequest",
    "DeliveryList",
    "DeliveryResponse",
    "DlqQuery",
    "DlqQueryEventTypeType1",
    "DlqQueryEventTypeType2Type1",
    "DlqQueryEventTypeType3Type1",
    "DlqQueryReasonType1",
    "DlqQueryReasonType2Type1",
    "DlqQueryReasonType3Type1",
    "EndpointList",
    "EndpointResponse",
    "ErasureReport",
    "ErrorBody",
    "ErrorCode",
    "ErrorDetail",
    "GenericTemplate",
    "HistoryEntry",
    "IceBreaker",
    "IceBreakers",
    "ImageAttachment",
    "ImageAttachmentType",
    "IngestResponse",
    "MerchantResponse",
    "MessageList",
    "MessageStatusResponse",
    "PersistentMenu",
    "QuickReply",
    "RedriveResponse",
    "Scope",
    "SenderActionRequest",
    "SenderActionRequestAction",
    "SendMessageRequest",
    "SendMessageRequestTagType1",
    "SendMessageRequestTagType2Type1",
    "SendMessageRequestTagType3Type1",
    "SendMessageRequestVariablesType0",
    "SendMessageResponse",
    "StartResponse",
    "StatusTransition",
    "TemplateList",
    "TemplateRequest",
    "TemplateResponse",
    "TemplateUsed",
    "TemplateVariable",
    "TemplateVariableType",
    "UpdateAccountRequest",
    "UpdateAccountRequestEventTypesType0Item",
    "UpdateAccountRequestStatusType1",
    "UpdateAccountRequestStatusType2Type1",
    "UpdateAccountRequestStatusType3Type1",
    "UpdateEndpointRequest",
    "UpdateEndpointRequestEventTypesType0Item",
    "V1AdminDlqListEventType",
    "V1AdminDlqListReason",
    "V1AnalyticsGetGranularity",
    "V1WebhookDeliveriesListStatus",
)

-- Rich messages (issue 16): a send can now be a generic or button template, or the like_heart
-- sticker. Their echo carries the attachment type (`template`, `like_heart`) and no text, so an
-- ambiguous call of such a part is matched on that type, as media parts are (see
-- 20261201000030_send_intents.sql and router_core::outbound::SendPart::echo_signature).
alter table send_intents drop constraint send_intents_match_check;
alter table send_intents add constraint send_intents_match_check check (
    (match_kind = 'text' and match_text is not null)
    or (match_kind in ('image', 'video', 'audio', 'file', 'template', 'like_heart') and match_text is null));

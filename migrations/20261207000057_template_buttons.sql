-- A template may carry one to three buttons (issue 16: "optional quick replies / buttons /
-- attachments"). A message of such a template is sent as Meta's button template: the rendered
-- text (at most 640 characters) with these buttons. Stored as router_core::outbound::Button JSON.
alter table message_templates add column buttons jsonb;

-- Echo matching probes `outbound_messages.instagram_message_ids` (GIN) for every echo that is not
-- a message's last part, and the send reconciliation for unsettled sends (issue 12/17 growth runs).
-- With GIN's fast update, new entries go to a pending list that every probe scans linearly, and
-- the table is written at the send rate (each sent part appends its mid): probes slowed as the
-- list filled, and the backend that flushed it stalled. Each write now updates the index directly
-- (one entry per sent part: cheap); probes stay index lookups.
alter index outbound_messages_mids_idx set (fastupdate = off);

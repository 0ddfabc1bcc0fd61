-- What this database's secrets look like, so a process started with different ENCRYPTION_KEY /
-- API_KEY_SALT values is told so at start (`router-api migrate`) instead of failing later on
-- every token (undecryptable) and every API key (unknown). The classic cause: two clones of the
-- repository sharing one database name, each with its own generated .run/dev.env.
--
-- Neither column reveals a secret: the salt is represented by an HMAC under it of a fixed text,
-- the data key by a fixed text sealed with it (AES-256-GCM, `<kver>:<base64>`). One row only.
-- Not tenant data, so no row-level security; the API's role is given no access at all (only the
-- owner role of migrations reads it).
create table deployment_secrets (
    deployment_secrets_id int not null default 1,
    api_key_salt_check    bytea not null,
    encryption_check      text not null,
    created_at            timestamptz not null default now(),
    updated_at            timestamptz not null default now(),
    constraint deployment_secrets_pkey primary key (deployment_secrets_id),
    constraint deployment_secrets_single_row_check check (deployment_secrets_id = 1)
);

create trigger deployment_secrets_set_updated_at before update on deployment_secrets
    for each row execute function set_updated_at();

revoke all on deployment_secrets from router_app;

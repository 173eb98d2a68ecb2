-- Tenant roles: database roles bound to the venues they may act for.
--
-- depends: 0005_self_service

-- A login role listed here can reach only the venues listed for it, whatever
-- it sets in its session; a role not listed is bound only by the
-- bookingdb.venue_id setting, if it sets one (see sql/012_tenancy.sql).
-- role_name is text, not a reference to pg_authid: roles are cluster-wide
-- and a database cannot hold a foreign key to them.
CREATE TABLE bookingdb.tenant_roles (
    venue_id   bigint NOT NULL REFERENCES bookingdb.venues (venue_id),
    role_name  text NOT NULL CHECK (length(role_name) BETWEEN 1 AND 63),
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (venue_id, role_name)
);

CREATE INDEX tenant_roles_role ON bookingdb.tenant_roles (role_name);

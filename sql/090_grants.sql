-- Nothing in the bookingdb schema is granted to PUBLIC. Least-privilege
-- roles for applications and reporting come with the hardening work.

REVOKE ALL ON ALL FUNCTIONS IN SCHEMA bookingdb FROM PUBLIC;

-- Drop the GiST index of shared allocations: capacity is counted through a btree now.
--
-- depends: 0007_allocations_active_by_end
--
-- A capacity check that read this index would depend on the very entries a
-- PostgreSQL 16-18 GiST bug can lose (see 0007). The shared resources'
-- occupancy is read through allocations_active_by_end instead.
DROP INDEX bookingdb.allocations_shared_active;

"""The benchmark suite: bookingdb against the physical limit and the naive design.

Every scenario runs its reference in the same run, on the same server, so the
figures that matter are ratios, which stay stable on a noisy machine. Load
comes from pgbench (shipped with the embedded server) where a scenario
measures the database, and from :class:`bookingdb.BookingDB` in threads where
it measures the Python path. Every scenario ends with
``verify_invariants()`` and a double-booking count computed from what the
clients were acknowledged, not from what the database says about itself.

Modules: :mod:`~bookingdb.bench.runner` (``run``: the whole suite),
:mod:`~bookingdb.bench.scenarios` (S1-S10), :mod:`~bookingdb.bench.workspace`
(server and throwaway databases), :mod:`~bookingdb.bench.scaffold` (the
``bench`` schema: reference tables, outcome recording, data loading),
:mod:`~bookingdb.bench.pgbench` (running pgbench, reading its logs),
:mod:`~bookingdb.bench.acks` (slots and acknowledgements),
:mod:`~bookingdb.bench.serving` (S10's check of the waitlist's serving order),
:mod:`~bookingdb.bench.plans` (the plans a call ran, through auto_explain),
:mod:`~bookingdb.bench.results`, :mod:`~bookingdb.bench.report`,
:mod:`~bookingdb.bench.chart` and :mod:`~bookingdb.bench.cli`.
"""

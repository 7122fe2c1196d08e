//! The real `gatehouse` binary as separate processes: a worker killed mid-job, a
//! worker stopped with SIGTERM, and two workers with an api sharing one database.

mod broadcast;
mod chaos;
mod harness;
mod lifecycle;
mod migrate;
mod ops_cli;
mod rate_limits;
mod scale;

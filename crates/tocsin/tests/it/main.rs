//! End-to-end tests: real servers on loopback over a real SQLite file, or a
//! real PostgreSQL database when `TOCSIN_TEST_PG_URL` is set. One binary,
//! because every test binary is a slow link on two cores.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod accounts;
mod alertmanager_parity;
mod api;
mod backup;
mod cli;
mod config;
mod crash;
mod dead_letters;
mod faults;
mod harness;
mod heartbeats;
mod ingest;
mod nodes;
mod noise;
mod oncall_feeds;
mod overload;
mod paging;
mod prometheus;
mod retention;
mod serve;
mod silences;
mod tls;
mod web;

//! PDX end to end: the real server over real HTTP, on SQLite or, with `PDX_TEST_DATABASE_URL`,
//! on PostgreSQL. One test binary for every area, so that the workspace links the server into
//! one test executable rather than one per file; each module is one area of the platform.
//! The gateway's tests are a binary of their own, as they capture the process's log.

mod access;
mod accounting;
mod browser;
mod catalog;
mod ckan;
mod dcat;
mod demo;
mod exchange;
mod foundation;
mod licensing;
mod operations;
mod permissions;
mod portal;
mod rows;
mod search;
mod tokens;

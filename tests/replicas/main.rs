//! Reads from real streaming replicas: the suite's shared replica of
//! `DATABASE_URL`'s server ([`common::replica`]), and primaries with
//! replicas of their own, made for a test ([`replicas`]).
//!
//! A binary of its own: to tell which server answered, its tests pause the
//! shared replica's replay, which stops it for every database on it, and a
//! test of another suite reading the replica meanwhile would find it
//! lagging, or never catching up with its database. Cargo runs test
//! binaries one after another, so no other suite's test runs while these
//! do. Within this binary, every test that pauses the shared replica's
//! replay or reads the shared replica takes [`common::replica::REPLAY`] for
//! its whole length (the lock is per process: it orders the tests of one
//! binary only). The tests on clusters of their own take no turn.

#[path = "../common/mod.rs"]
mod common;

mod replicas;

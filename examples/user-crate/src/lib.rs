//! A user's crate: its scenarios live in `scenarios/`, its tests in `tests/`. The library
//! itself is empty; a real crate would hold the code whose Kafka usage the scenarios model.

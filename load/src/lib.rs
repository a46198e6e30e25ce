//! boxoffice-load as a library: the pieces other tools and tests call.
//! `verify` is the independent invariant checker (`boxoffice-load verify`).

pub mod verify;

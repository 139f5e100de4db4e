//! zeus-memcache: the memcached-protocol service.
//!
//! Not built yet: this crate holds no service so far, and the `memcache` service adapter is not
//! registered, so a configuration naming it is refused at start.

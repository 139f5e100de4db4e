//! The e2e test binary: real `zeus` processes driven from outside.

mod memcache;

//! zeus-http: the HTTP/1.1 service.
//!
//! Not built yet: this crate holds no service so far, and the `http` service adapter is not
//! registered, so a configuration naming it is refused at start.

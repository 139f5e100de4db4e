//! Life-cycle events: one enum as the source of truth for logs, tests and (later) plugins.
//!
//! Manager events are emitted in the manager only; scheduler and worker events stay in their
//! own processes (as in ZEUS, a scheduler never sees a worker's events and the reverse).

use std::fmt;

/// Something that happened to the manager or one of its services.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// The manager is up: lock taken, listeners bound, about to start services.
    ManagerInit {
        /// Manager pid.
        pid: u32,
        /// Services about to start.
        services: Vec<String>,
    },
    /// A service's scheduler was started (also after a crash).
    ServiceStart {
        /// Service name.
        service: String,
        /// Scheduler pid.
        pid: u32,
    },
    /// A service has stopped (its scheduler and all its workers are gone).
    ServiceStop {
        /// Service name.
        service: String,
        /// How its scheduler ended.
        status: String,
    },
}

impl Event {
    /// The event's name, as in ZEUS (`ManagerInit`, `ServiceStart`, `ServiceStop`).
    pub fn name(&self) -> &'static str {
        match self {
            Self::ManagerInit { .. } => "ManagerInit",
            Self::ServiceStart { .. } => "ServiceStart",
            Self::ServiceStop { .. } => "ServiceStop",
        }
    }
}

impl fmt::Display for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::ManagerInit { pid, services } => {
                write!(
                    f,
                    "ManagerInit: manager pid {pid}, starting {}",
                    services.join(", ")
                )
            }
            Self::ServiceStart { service, pid } => {
                write!(f, "ServiceStart: {service} (scheduler pid {pid})")
            }
            Self::ServiceStop { service, status } => write!(f, "ServiceStop: {service} ({status})"),
        }
    }
}

/// Listener callback.
pub type Listener = Box<dyn FnMut(&Event)>;

/// Delivers events to listeners in registration order, and logs each one.
#[derive(Default)]
pub struct EventBus {
    listeners: Vec<Listener>,
}

impl fmt::Debug for EventBus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "EventBus({} listeners)", self.listeners.len())
    }
}

impl EventBus {
    /// Adds a listener.
    pub fn subscribe(&mut self, l: impl FnMut(&Event) + 'static) {
        self.listeners.push(Box::new(l));
    }

    /// Logs `e` and hands it to every listener.
    pub fn emit(&mut self, e: Event) {
        tracing::info!(event = e.name(), "{e}");
        for l in &mut self.listeners {
            l(&e);
        }
    }
}

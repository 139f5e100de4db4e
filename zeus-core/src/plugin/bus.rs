//! The event bus: delivers the events of one scope to its plugins, in order, and logs each
//! one. An event of another scope is refused (a bug: it is logged and, in debug builds,
//! asserted), which is how scheduler events never reach workers and the reverse.

use std::fmt;

use super::{Ctx, Plugin, PluginError};
use crate::event::Event;

/// A refusal of a vetoable event.
#[derive(Debug, thiserror::Error)]
#[error("plugin {plugin} refused {event}: {error}")]
pub struct Veto {
    /// The plugin that refused.
    pub plugin: String,
    /// The refused event's name.
    pub event: &'static str,
    /// Its reason.
    pub error: PluginError,
}

/// Delivers the events of one scope to its plugins, in order, and logs each event.
pub struct EventBus {
    ctx: Ctx,
    plugins: Vec<Box<dyn Plugin>>,
}

impl Default for EventBus {
    /// A manager bus without plugins.
    fn default() -> Self {
        Self::new(Ctx::manager(), Vec::new())
    }
}

impl fmt::Debug for EventBus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = self.plugins.iter().map(|p| p.name()).collect();
        write!(f, "EventBus({:?}, {names:?})", self.ctx.scope())
    }
}

impl EventBus {
    /// A bus for the scope of `ctx`, delivering to `plugins` in order.
    pub fn new(ctx: Ctx, plugins: Vec<Box<dyn Plugin>>) -> Self {
        Self { ctx, plugins }
    }

    /// Adds a plugin after the others.
    pub fn add(&mut self, plugin: Box<dyn Plugin>) {
        self.plugins.push(plugin);
    }

    /// Adds a closure as a listener (an anonymous plugin named `listener`).
    pub fn subscribe(
        &mut self,
        listener: impl FnMut(&Event, &Ctx) -> Result<(), PluginError> + Send + 'static,
    ) {
        self.add(Box::new(Listener(listener)));
    }

    /// Whether no plugin listens.
    pub fn is_empty(&self) -> bool {
        self.plugins.is_empty()
    }

    /// The context plugins see.
    pub fn ctx(&self) -> &Ctx {
        &self.ctx
    }

    /// Logs `e` and hands it to every plugin; an error is logged and delivery goes on.
    pub fn emit(&mut self, e: Event) {
        if !self.accepts(&e) {
            return;
        }
        e.log();
        for p in &mut self.plugins {
            if let Err(err) = p.on_event(&e, &self.ctx) {
                tracing::warn!("plugin {} failed on {}: {err}", p.name(), e.name());
            }
        }
    }

    /// Logs `e` and hands it to the plugins until one refuses it.
    pub fn propose(&mut self, e: Event) -> Result<(), Veto> {
        debug_assert!(e.vetoable(), "invariant: only vetoable events are proposed");
        if !self.accepts(&e) {
            return Ok(());
        }
        e.log();
        for p in &mut self.plugins {
            if let Err(error) = p.on_event(&e, &self.ctx) {
                return Err(Veto {
                    plugin: p.name().to_string(),
                    event: e.name(),
                    error,
                });
            }
        }
        Ok(())
    }

    fn accepts(&self, e: &Event) -> bool {
        let ok = e.scope() == self.ctx.scope();
        debug_assert!(
            ok,
            "invariant: {} event on a {:?} bus",
            e.name(),
            self.ctx.scope()
        );
        if !ok {
            tracing::error!(
                "{} event emitted on a {:?} bus: not delivered",
                e.name(),
                self.ctx.scope()
            );
        }
        ok
    }
}

/// A closure seen as a plugin.
struct Listener<F>(F);

impl<F> Plugin for Listener<F>
where
    F: FnMut(&Event, &Ctx) -> Result<(), PluginError> + Send,
{
    fn name(&self) -> &str {
        "listener"
    }

    fn on_event(&mut self, event: &Event, ctx: &Ctx) -> Result<(), PluginError> {
        (self.0)(event, ctx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    fn scheduler_bus() -> EventBus {
        EventBus::new(Ctx::scheduler("svc", None), Vec::new())
    }

    #[test]
    fn listeners_see_events_in_order_and_errors_do_not_stop_delivery() {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let mut bus = scheduler_bus();
        let s = seen.clone();
        bus.subscribe(move |_, _| {
            s.lock().unwrap().push(1);
            Err(PluginError::Refused("no".into()))
        });
        let s = seen.clone();
        bus.subscribe(move |e, ctx| {
            assert_eq!(ctx.service(), Some("svc"));
            assert_eq!(e.name(), "SchedulerStop");
            s.lock().unwrap().push(2);
            Ok(())
        });
        bus.emit(Event::SchedulerStop { tasks: 3 });
        assert_eq!(*seen.lock().unwrap(), vec![1, 2]);
    }

    #[test]
    fn the_first_refusal_vetoes_and_later_plugins_do_not_see_it() {
        let later = Arc::new(Mutex::new(0));
        let mut bus = scheduler_bus();
        bus.subscribe(|_, _| Err(PluginError::Refused("too many".into())));
        let l = later.clone();
        bus.subscribe(move |_, _| {
            *l.lock().unwrap() += 1;
            Ok(())
        });
        let v = bus
            .propose(Event::WorkerCreate {
                worker_id: 1,
                slot: 0,
                workers: 1,
            })
            .unwrap_err();
        assert_eq!((v.plugin.as_str(), v.event), ("listener", "WorkerCreate"));
        assert!(v.to_string().contains("too many"), "{v}");
        assert_eq!(*later.lock().unwrap(), 0);
    }
}

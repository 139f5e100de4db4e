//! The `worker_cap` plugin: refuses to create workers beyond `max_workers` live ones, whatever
//! the pool bounds say. Shows a plugin with a required option (checked at start: a missing or
//! wrong value refuses the configuration with the key named) and the veto of `WorkerCreate`.

use zeus_core::config::ConfigErrors;
use zeus_core::event::Event;
use zeus_core::plugin::{Ctx, Plugin, PluginError, PluginOptions};

pub struct WorkerCap {
    max: u64,
    live: u64,
}

impl WorkerCap {
    pub fn from_options(opts: &PluginOptions) -> Result<Box<dyn Plugin>, ConfigErrors> {
        opts.only(&["max_workers"])?;
        let max: u64 = opts
            .value("max_workers")?
            .ok_or_else(|| opts.error("max_workers", "is required"))?;
        Ok(Box::new(Self { max, live: 0 }))
    }
}

impl Plugin for WorkerCap {
    fn name(&self) -> &str {
        "worker_cap"
    }

    fn on_event(&mut self, event: &Event, _ctx: &Ctx) -> Result<(), PluginError> {
        match event {
            Event::WorkerCreate { workers, .. } if self.live + *workers as u64 > self.max => Err(
                PluginError::Refused(format!("worker_cap: {} workers is the cap", self.max)),
            ),
            Event::WorkerCreated { workers, .. } => {
                self.live += *workers as u64;
                Ok(())
            }
            Event::WorkerTerminated { workers, .. } => {
                self.live = self.live.saturating_sub(*workers as u64);
                Ok(())
            }
            _ => Ok(()),
        }
    }
}

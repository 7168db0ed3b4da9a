//! The state every connection of a running gateway shares: the validated
//! configuration, how to reach the daemon, what a build is held to, and the permits
//! that bound concurrent work. Built once from [`Config`] at start and read-only after.
//! Who a connection acts for is not shared: each connection has its own owner.

use std::sync::Arc;

use tokio::sync::Semaphore;

use crate::config::{Config, Owner};
use crate::context;
use crate::http::upstream::Upstream;
use crate::query::Policy;
use crate::tar;

/// Limits a build is held to.
#[derive(Debug, Clone)]
pub struct BuildLimits {
    pub tar: tar::Limits,
    pub walk: context::Limits,
    /// Cap on decoded context bytes; `None` for no cap.
    pub max_context_size: Option<u64>,
}

impl BuildLimits {
    fn from_config(config: &Config) -> BuildLimits {
        BuildLimits {
            tar: tar::Limits {
                max_pax_bytes: config.max_pax_size,
                max_path_len: config.max_path_length,
            },
            walk: context::Limits {
                max_dockerfile: usize::try_from(config.max_dockerfile_size).unwrap_or(usize::MAX),
                max_entries: config.max_context_entries,
                ..context::Limits::default()
            },
            max_context_size: config.max_context_size,
        }
    }
}

/// Shared, read-only state of a running gateway.
pub struct Gateway {
    pub config: Config,
    pub upstream: Upstream,
    pub build_limits: BuildLimits,
    /// Permits for concurrent builds, when `--max-builds` is set.
    pub builds: Option<Arc<Semaphore>>,
    /// Permits for decoder threads, one per CPU (at least two): enough to decode on
    /// every core, and a bound on the threads that clients who stall mid-upload can
    /// hold (a decoder thread waits on its client). Builds that find every permit
    /// taken decode on their worker instead, slower but never waiting.
    pub decoders: Arc<Semaphore>,
}

impl Gateway {
    pub fn new(config: Config) -> Arc<Self> {
        let upstream = Upstream::new(
            config.upstream.clone(),
            config.connect_timeout,
            config.response_timeout,
        );
        let build_limits = BuildLimits::from_config(&config);
        let builds = (config.max_builds > 0).then(|| Arc::new(Semaphore::new(config.max_builds)));
        let cpus = std::thread::available_parallelism().map_or(2, |n| n.get());
        Arc::new(Self {
            config,
            upstream,
            build_limits,
            builds,
            decoders: Arc::new(Semaphore::new(cpus.max(2))),
        })
    }

    /// What a build's query is held to, for a connection that acts for `owner` (the
    /// owner is per connection: see [`crate::identity`]).
    pub fn build_policy(&self, owner: &Owner) -> Policy {
        Policy {
            owner_key: owner.key.clone(),
            owner: owner.value.clone(),
            cgroup_parent: self.config.cgroup_parent.clone(),
            allow_host_network: self.config.allow_host_network,
        }
    }
}

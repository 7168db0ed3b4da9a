//! moby v20.10.24's request body types, as [`Schema`] tables.
//!
//! Transcribed field by field (names, `json` tags, types, embedding, order)
//! from `api/types/container/{config,host_config}.go`,
//! `api/types/mount/mount.go`, `api/types/network/network.go`,
//! `api/types/blkiodev/blkio.go`, `api/types/strslice/strslice.go`,
//! `api/types/{types,configs}.go`, `api/types/volume/volume_create.go`,
//! `runconfig/config_unix.go`, and the vendored `docker/go-connections/nat`
//! (`PortBinding`, `PortSet`, `PortMap`) and `docker/go-units` (`Ulimit`).
//! Named string and integer types (`NetworkMode`, `time.Duration`,
//! `os.FileMode`, `nat.Port`, …) are their underlying kinds: none of them
//! has an `UnmarshalJSON` or `UnmarshalText`. `int` and `uint` are
//! [`Schema::GoInt`] and [`Schema::GoUint`]: their width is the
//! platform's.
//!
//! `tests/go/jsondecode/main.go` holds the same types in Go, and
//! `tests/json_differential.rs` checks that the two layouts are identical
//! before it compares decodings.

use super::Schema;
use super::StructDef;
use super::schema::field;

const STRING: Schema = Schema::String;
const BOOL: Schema = Schema::Bool;
const INT: Schema = Schema::GoInt;
const INT64: Schema = Schema::Int(64);
const UINT16: Schema = Schema::Uint(16);
const UINT32: Schema = Schema::Uint(32);
const UINT64: Schema = Schema::Uint(64);
const STRINGS: Schema = Schema::Slice(&Schema::String);
const STRING_MAP: Schema = Schema::Map(&Schema::String);
const STR_SLICE: Schema = Schema::StrSlice;

/// `struct{}`, the value type of `nat.PortSet` and `Config.Volumes`.
pub static EMPTY_STRUCT: StructDef = StructDef {
    name: "struct {}",
    fields: &[],
};

/// `map[string]struct{}` (`nat.PortSet` is `map[nat.Port]struct{}`).
const SET: Schema = Schema::Map(&Schema::Struct(&EMPTY_STRUCT));

pub static HEALTH_CONFIG: StructDef = StructDef {
    name: "container.HealthConfig",
    fields: &[
        field!("Test", ",omitempty", STRINGS),
        field!("Interval", ",omitempty", INT64),
        field!("Timeout", ",omitempty", INT64),
        field!("StartPeriod", ",omitempty", INT64),
        field!("Retries", ",omitempty", INT),
    ],
};

pub static CONFIG: StructDef = StructDef {
    name: "container.Config",
    fields: &[
        field!("Hostname", STRING),
        field!("Domainname", STRING),
        field!("User", STRING),
        field!("AttachStdin", BOOL),
        field!("AttachStdout", BOOL),
        field!("AttachStderr", BOOL),
        field!("ExposedPorts", ",omitempty", SET),
        field!("Tty", BOOL),
        field!("OpenStdin", BOOL),
        field!("StdinOnce", BOOL),
        field!("Env", STRINGS),
        field!("Cmd", STR_SLICE),
        field!(
            "Healthcheck",
            ",omitempty",
            Schema::Ptr(&Schema::Struct(&HEALTH_CONFIG))
        ),
        field!("ArgsEscaped", ",omitempty", BOOL),
        field!("Image", STRING),
        field!("Volumes", SET),
        field!("WorkingDir", STRING),
        field!("Entrypoint", STR_SLICE),
        field!("NetworkDisabled", ",omitempty", BOOL),
        field!("MacAddress", ",omitempty", STRING),
        field!("OnBuild", STRINGS),
        field!("Labels", STRING_MAP),
        field!("StopSignal", ",omitempty", STRING),
        field!("StopTimeout", ",omitempty", Schema::Ptr(&INT)),
        field!("Shell", ",omitempty", STR_SLICE),
    ],
};

pub static LOG_CONFIG: StructDef = StructDef {
    name: "container.LogConfig",
    fields: &[field!("Type", STRING), field!("Config", STRING_MAP)],
};

pub static PORT_BINDING: StructDef = StructDef {
    name: "nat.PortBinding",
    fields: &[
        field!("HostIP", "HostIp", STRING),
        field!("HostPort", STRING),
    ],
};

pub static RESTART_POLICY: StructDef = StructDef {
    name: "container.RestartPolicy",
    fields: &[field!("Name", STRING), field!("MaximumRetryCount", INT)],
};

pub static WEIGHT_DEVICE: StructDef = StructDef {
    name: "blkiodev.WeightDevice",
    fields: &[field!("Path", STRING), field!("Weight", UINT16)],
};

pub static THROTTLE_DEVICE: StructDef = StructDef {
    name: "blkiodev.ThrottleDevice",
    fields: &[field!("Path", STRING), field!("Rate", UINT64)],
};

pub static DEVICE_MAPPING: StructDef = StructDef {
    name: "container.DeviceMapping",
    fields: &[
        field!("PathOnHost", STRING),
        field!("PathInContainer", STRING),
        field!("CgroupPermissions", STRING),
    ],
};

pub static DEVICE_REQUEST: StructDef = StructDef {
    name: "container.DeviceRequest",
    fields: &[
        field!("Driver", STRING),
        field!("Count", INT),
        field!("DeviceIDs", STRINGS),
        field!("Capabilities", Schema::Slice(&STRINGS)),
        field!("Options", STRING_MAP),
    ],
};

pub static ULIMIT: StructDef = StructDef {
    name: "units.Ulimit",
    fields: &[
        field!("Name", STRING),
        field!("Hard", INT64),
        field!("Soft", INT64),
    ],
};

const THROTTLE_DEVICES: Schema = Schema::Slice(&Schema::Ptr(&Schema::Struct(&THROTTLE_DEVICE)));

pub static RESOURCES: StructDef = StructDef {
    name: "container.Resources",
    fields: &[
        field!("CPUShares", "CpuShares", INT64),
        field!("Memory", INT64),
        field!("NanoCPUs", "NanoCpus", INT64),
        field!("CgroupParent", STRING),
        field!("BlkioWeight", UINT16),
        field!(
            "BlkioWeightDevice",
            Schema::Slice(&Schema::Ptr(&Schema::Struct(&WEIGHT_DEVICE)))
        ),
        field!("BlkioDeviceReadBps", THROTTLE_DEVICES),
        field!("BlkioDeviceWriteBps", THROTTLE_DEVICES),
        field!("BlkioDeviceReadIOps", THROTTLE_DEVICES),
        field!("BlkioDeviceWriteIOps", THROTTLE_DEVICES),
        field!("CPUPeriod", "CpuPeriod", INT64),
        field!("CPUQuota", "CpuQuota", INT64),
        field!("CPURealtimePeriod", "CpuRealtimePeriod", INT64),
        field!("CPURealtimeRuntime", "CpuRealtimeRuntime", INT64),
        field!("CpusetCpus", STRING),
        field!("CpusetMems", STRING),
        field!("Devices", Schema::Slice(&Schema::Struct(&DEVICE_MAPPING))),
        field!("DeviceCgroupRules", STRINGS),
        field!(
            "DeviceRequests",
            Schema::Slice(&Schema::Struct(&DEVICE_REQUEST))
        ),
        field!("KernelMemory", INT64),
        field!("KernelMemoryTCP", INT64),
        field!("MemoryReservation", INT64),
        field!("MemorySwap", INT64),
        field!("MemorySwappiness", Schema::Ptr(&INT64)),
        field!("OomKillDisable", Schema::Ptr(&BOOL)),
        field!("PidsLimit", Schema::Ptr(&INT64)),
        field!(
            "Ulimits",
            Schema::Slice(&Schema::Ptr(&Schema::Struct(&ULIMIT)))
        ),
        field!("CPUCount", "CpuCount", INT64),
        field!("CPUPercent", "CpuPercent", INT64),
        field!("IOMaximumIOps", UINT64),
        field!("IOMaximumBandwidth", UINT64),
    ],
};

pub static BIND_OPTIONS: StructDef = StructDef {
    name: "mount.BindOptions",
    fields: &[
        field!("Propagation", ",omitempty", STRING),
        field!("NonRecursive", ",omitempty", BOOL),
    ],
};

pub static DRIVER: StructDef = StructDef {
    name: "mount.Driver",
    fields: &[
        field!("Name", ",omitempty", STRING),
        field!("Options", ",omitempty", STRING_MAP),
    ],
};

pub static VOLUME_OPTIONS: StructDef = StructDef {
    name: "mount.VolumeOptions",
    fields: &[
        field!("NoCopy", ",omitempty", BOOL),
        field!("Labels", ",omitempty", STRING_MAP),
        field!(
            "DriverConfig",
            ",omitempty",
            Schema::Ptr(&Schema::Struct(&DRIVER))
        ),
    ],
};

pub static TMPFS_OPTIONS: StructDef = StructDef {
    name: "mount.TmpfsOptions",
    fields: &[
        field!("SizeBytes", ",omitempty", INT64),
        field!("Mode", ",omitempty", UINT32),
    ],
};

pub static MOUNT: StructDef = StructDef {
    name: "mount.Mount",
    fields: &[
        field!("Type", ",omitempty", STRING),
        field!("Source", ",omitempty", STRING),
        field!("Target", ",omitempty", STRING),
        field!("ReadOnly", ",omitempty", BOOL),
        field!("Consistency", ",omitempty", STRING),
        field!(
            "BindOptions",
            ",omitempty",
            Schema::Ptr(&Schema::Struct(&BIND_OPTIONS))
        ),
        field!(
            "VolumeOptions",
            ",omitempty",
            Schema::Ptr(&Schema::Struct(&VOLUME_OPTIONS))
        ),
        field!(
            "TmpfsOptions",
            ",omitempty",
            Schema::Ptr(&Schema::Struct(&TMPFS_OPTIONS))
        ),
    ],
};

pub static HOST_CONFIG: StructDef = StructDef {
    name: "container.HostConfig",
    fields: &[
        field!("Binds", STRINGS),
        field!("ContainerIDFile", STRING),
        field!("LogConfig", Schema::Struct(&LOG_CONFIG)),
        field!("NetworkMode", STRING),
        field!(
            "PortBindings",
            Schema::Map(&Schema::Slice(&Schema::Struct(&PORT_BINDING)))
        ),
        field!("RestartPolicy", Schema::Struct(&RESTART_POLICY)),
        field!("AutoRemove", BOOL),
        field!("VolumeDriver", STRING),
        field!("VolumesFrom", STRINGS),
        field!("CapAdd", STR_SLICE),
        field!("CapDrop", STR_SLICE),
        field!("CgroupnsMode", STRING),
        field!("DNS", "Dns", STRINGS),
        field!("DNSOptions", "DnsOptions", STRINGS),
        field!("DNSSearch", "DnsSearch", STRINGS),
        field!("ExtraHosts", STRINGS),
        field!("GroupAdd", STRINGS),
        field!("IpcMode", STRING),
        field!("Cgroup", STRING),
        field!("Links", STRINGS),
        field!("OomScoreAdj", INT),
        field!("PidMode", STRING),
        field!("Privileged", BOOL),
        field!("PublishAllPorts", BOOL),
        field!("ReadonlyRootfs", BOOL),
        field!("SecurityOpt", STRINGS),
        field!("StorageOpt", ",omitempty", STRING_MAP),
        field!("Tmpfs", ",omitempty", STRING_MAP),
        field!("UTSMode", STRING),
        field!("UsernsMode", STRING),
        field!("ShmSize", INT64),
        field!("Sysctls", ",omitempty", STRING_MAP),
        field!("Runtime", ",omitempty", STRING),
        field!("ConsoleSize", Schema::Array(2, &Schema::GoUint)),
        field!("Isolation", STRING),
        field!(embed "Resources", Schema::Struct(&RESOURCES)),
        field!(
            "Mounts",
            ",omitempty",
            Schema::Slice(&Schema::Struct(&MOUNT))
        ),
        field!("MaskedPaths", STRINGS),
        field!("ReadonlyPaths", STRINGS),
        field!("Init", ",omitempty", Schema::Ptr(&BOOL)),
    ],
};

pub static ENDPOINT_IPAM_CONFIG: StructDef = StructDef {
    name: "network.EndpointIPAMConfig",
    fields: &[
        field!("IPv4Address", ",omitempty", STRING),
        field!("IPv6Address", ",omitempty", STRING),
        field!("LinkLocalIPs", ",omitempty", STRINGS),
    ],
};

pub static ENDPOINT_SETTINGS: StructDef = StructDef {
    name: "network.EndpointSettings",
    fields: &[
        field!(
            "IPAMConfig",
            Schema::Ptr(&Schema::Struct(&ENDPOINT_IPAM_CONFIG))
        ),
        field!("Links", STRINGS),
        field!("Aliases", STRINGS),
        field!("NetworkID", STRING),
        field!("EndpointID", STRING),
        field!("Gateway", STRING),
        field!("IPAddress", STRING),
        field!("IPPrefixLen", INT),
        field!("IPv6Gateway", STRING),
        field!("GlobalIPv6Address", STRING),
        field!("GlobalIPv6PrefixLen", INT),
        field!("MacAddress", STRING),
        field!("DriverOpts", STRING_MAP),
    ],
};

pub static NETWORKING_CONFIG: StructDef = StructDef {
    name: "network.NetworkingConfig",
    fields: &[field!(
        "EndpointsConfig",
        Schema::Map(&Schema::Ptr(&Schema::Struct(&ENDPOINT_SETTINGS)))
    )],
};

/// `runconfig.ContainerConfigWrapper` (`runconfig/config_unix.go`):
/// `POST /containers/create` and `POST /commit`. The embedded
/// `*container.HostConfig` promotes every host-config field to the top
/// level (the API before 1.20 put them there); dockerd's `getHostConfig`
/// then prefers the inner `HostConfig` and copies a few top-level fields
/// into it.
pub static CONTAINER_CONFIG_WRAPPER: StructDef = StructDef {
    name: "runconfig.ContainerConfigWrapper",
    fields: &[
        field!(embed "Config", Schema::Ptr(&Schema::Struct(&CONFIG))),
        field!(
            "InnerHostConfig",
            "HostConfig,omitempty",
            Schema::Ptr(&Schema::Struct(&HOST_CONFIG))
        ),
        field!("Cpuset", ",omitempty", STRING),
        field!(
            "NetworkingConfig",
            "NetworkingConfig,omitempty",
            Schema::Ptr(&Schema::Struct(&NETWORKING_CONFIG))
        ),
        field!(embed "HostConfig", Schema::Ptr(&Schema::Struct(&HOST_CONFIG))),
    ],
};

/// The body of `POST /containers/create` (and `POST /commit`), decoded
/// into a `ContainerConfigWrapper` value as `decodeContainerConfig` does.
pub const CONTAINER_CREATE: Schema = Schema::Struct(&CONTAINER_CONFIG_WRAPPER);

/// `container.UpdateConfig`: `POST /containers/{id}/update`.
pub static UPDATE_CONFIG: StructDef = StructDef {
    name: "container.UpdateConfig",
    fields: &[
        field!(embed "Resources", Schema::Struct(&RESOURCES)),
        field!("RestartPolicy", Schema::Struct(&RESTART_POLICY)),
    ],
};

pub const CONTAINER_UPDATE: Schema = Schema::Struct(&UPDATE_CONFIG);

/// `types.ExecConfig`: `POST /containers/{id}/exec` (in 20.10 `Cmd` is a
/// plain `[]string`, not a `StrSlice`).
pub static EXEC_CONFIG: StructDef = StructDef {
    name: "types.ExecConfig",
    fields: &[
        field!("User", STRING),
        field!("Privileged", BOOL),
        field!("Tty", BOOL),
        field!("AttachStdin", BOOL),
        field!("AttachStderr", BOOL),
        field!("AttachStdout", BOOL),
        field!("Detach", BOOL),
        field!("DetachKeys", STRING),
        field!("Env", STRINGS),
        field!("WorkingDir", STRING),
        field!("Cmd", STRINGS),
    ],
};

pub const EXEC_CREATE: Schema = Schema::Struct(&EXEC_CONFIG);

/// `types.ExecStartCheck`: `POST /exec/{id}/start` (20.10 has no `ConsoleSize`
/// here; API 1.42 added it).
pub static EXEC_START_CHECK: StructDef = StructDef {
    name: "types.ExecStartCheck",
    fields: &[field!("Detach", BOOL), field!("Tty", BOOL)],
};

pub const EXEC_START: Schema = Schema::Struct(&EXEC_START_CHECK);

pub static IPAM_CONFIG: StructDef = StructDef {
    name: "network.IPAMConfig",
    fields: &[
        field!("Subnet", ",omitempty", STRING),
        field!("IPRange", ",omitempty", STRING),
        field!("Gateway", ",omitempty", STRING),
        field!("AuxAddress", "AuxiliaryAddresses,omitempty", STRING_MAP),
    ],
};

pub static IPAM: StructDef = StructDef {
    name: "network.IPAM",
    fields: &[
        field!("Driver", STRING),
        field!("Options", STRING_MAP),
        field!("Config", Schema::Slice(&Schema::Struct(&IPAM_CONFIG))),
    ],
};

pub static CONFIG_REFERENCE: StructDef = StructDef {
    name: "network.ConfigReference",
    fields: &[field!("Network", STRING)],
};

pub static NETWORK_CREATE_OPTIONS: StructDef = StructDef {
    name: "types.NetworkCreate",
    fields: &[
        field!("CheckDuplicate", BOOL),
        field!("Driver", STRING),
        field!("Scope", STRING),
        field!("EnableIPv6", BOOL),
        field!("IPAM", Schema::Ptr(&Schema::Struct(&IPAM))),
        field!("Internal", BOOL),
        field!("Attachable", BOOL),
        field!("Ingress", BOOL),
        field!("ConfigOnly", BOOL),
        field!(
            "ConfigFrom",
            Schema::Ptr(&Schema::Struct(&CONFIG_REFERENCE))
        ),
        field!("Options", STRING_MAP),
        field!("Labels", STRING_MAP),
    ],
};

/// `types.NetworkCreateRequest`: `POST /networks/create`.
pub static NETWORK_CREATE_REQUEST: StructDef = StructDef {
    name: "types.NetworkCreateRequest",
    fields: &[
        field!(embed "NetworkCreate", Schema::Struct(&NETWORK_CREATE_OPTIONS)),
        field!("Name", STRING),
    ],
};

pub const NETWORK_CREATE: Schema = Schema::Struct(&NETWORK_CREATE_REQUEST);

/// `types.NetworkConnect`: `POST /networks/{id}/connect`.
pub static NETWORK_CONNECT_BODY: StructDef = StructDef {
    name: "types.NetworkConnect",
    fields: &[
        field!("Container", STRING),
        field!(
            "EndpointConfig",
            ",omitempty",
            Schema::Ptr(&Schema::Struct(&ENDPOINT_SETTINGS))
        ),
    ],
};

pub const NETWORK_CONNECT: Schema = Schema::Struct(&NETWORK_CONNECT_BODY);

/// `types.NetworkDisconnect`: `POST /networks/{id}/disconnect`.
pub static NETWORK_DISCONNECT_BODY: StructDef = StructDef {
    name: "types.NetworkDisconnect",
    fields: &[field!("Container", STRING), field!("Force", BOOL)],
};

pub const NETWORK_DISCONNECT: Schema = Schema::Struct(&NETWORK_DISCONNECT_BODY);

/// `volume.VolumeCreateBody`: `POST /volumes/create`.
pub static VOLUME_CREATE_BODY: StructDef = StructDef {
    name: "volume.VolumeCreateBody",
    fields: &[
        field!("Driver", "Driver", STRING),
        field!("DriverOpts", "DriverOpts", STRING_MAP),
        field!("Labels", "Labels", STRING_MAP),
        field!("Name", "Name", STRING),
    ],
};

pub const VOLUME_CREATE: Schema = Schema::Struct(&VOLUME_CREATE_BODY);

/// Every body schema above, by the name the differential test's Go
/// oracle knows it by.
pub const ALL: &[(&str, Schema)] = &[
    ("create", CONTAINER_CREATE),
    ("update", CONTAINER_UPDATE),
    ("exec", EXEC_CREATE),
    ("execstart", EXEC_START),
    ("netcreate", NETWORK_CREATE),
    ("netconnect", NETWORK_CONNECT),
    ("netdisconnect", NETWORK_DISCONNECT),
    ("volcreate", VOLUME_CREATE),
];

// Command jsondecode is the Go oracle for tests/json_differential.rs.
//
// It decodes JSON bodies into replicas of moby v20.10.24's request types
// with the standard library's encoding/json, exactly as dockerd does
// (json.NewDecoder(body).Decode(&v) into a zero value), and prints the Go
// value it got.
//
// The types below are faithful replicas of moby's: same type names, field
// names, field order, json tags, field types (named string and integer
// types kept as named types of the same kind) and embedding. They are
// written out here, not imported, because the test must build with the
// standard library alone. Sources (moby v20.10.24):
// api/types/container/{config,host_config}.go, api/types/mount/mount.go,
// api/types/network/network.go, api/types/blkiodev/blkio.go,
// api/types/strslice/strslice.go, api/types/{types,configs}.go,
// api/types/volume/volume_create.go, runconfig/config_unix.go, and the
// vendored github.com/docker/go-connections/nat and
// github.com/docker/go-units. The Rust side's schema
// (src/gojson/moby.rs) is compared with these types' layout by the test.
//
// Protocol: one request per line on stdin, tab-separated, JSON hex-encoded:
//
//	decode SCHEMA HEXJSON -> ok DUMP | err HEXMESSAGE
//	layout SCHEMA         -> ok LAYOUT
//
// DUMP is the decoded value: pointers "nil" or "&" + value, structs
// "{Name=value,...}" (every field, declaration order, embedded fields by
// type name), maps "nil" or "map{hexkey:value,...}" sorted, slices "nil" or
// "[v,...]", arrays "[v,...]", strings "\"hex\"", floats "f" + hex bits,
// interfaces "nil" or their dynamic value. LAYOUT describes the type the
// same way the Rust test describes its schema.
package main

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"time"
)

// ---- api/types/strslice ----

// StrSlice is strslice.StrSlice, with moby's UnmarshalJSON verbatim.
type StrSlice []string

func (e *StrSlice) UnmarshalJSON(b []byte) error {
	if len(b) == 0 {
		return nil
	}
	p := make([]string, 0, 1)
	if err := json.Unmarshal(b, &p); err != nil {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		p = append(p, s)
	}
	*e = p
	return nil
}

// ---- github.com/docker/go-connections/nat ----

type Port string

type PortBinding struct {
	HostIP   string `json:"HostIp"`
	HostPort string
}

type PortMap map[Port][]PortBinding

type PortSet map[Port]struct{}

// ---- github.com/docker/go-units ----

type Ulimit struct {
	Name string
	Hard int64
	Soft int64
}

// ---- api/types/blkiodev ----

type WeightDevice struct {
	Path   string
	Weight uint16
}

type ThrottleDevice struct {
	Path string
	Rate uint64
}

// ---- api/types/mount ----

type Type string
type Consistency string
type Propagation string

type Mount struct {
	Type          Type           `json:",omitempty"`
	Source        string         `json:",omitempty"`
	Target        string         `json:",omitempty"`
	ReadOnly      bool           `json:",omitempty"`
	Consistency   Consistency    `json:",omitempty"`
	BindOptions   *BindOptions   `json:",omitempty"`
	VolumeOptions *VolumeOptions `json:",omitempty"`
	TmpfsOptions  *TmpfsOptions  `json:",omitempty"`
}

type BindOptions struct {
	Propagation  Propagation `json:",omitempty"`
	NonRecursive bool        `json:",omitempty"`
}

type VolumeOptions struct {
	NoCopy       bool              `json:",omitempty"`
	Labels       map[string]string `json:",omitempty"`
	DriverConfig *Driver           `json:",omitempty"`
}

type Driver struct {
	Name    string            `json:",omitempty"`
	Options map[string]string `json:",omitempty"`
}

type TmpfsOptions struct {
	SizeBytes int64       `json:",omitempty"`
	Mode      os.FileMode `json:",omitempty"`
}

// ---- api/types/container ----

type HealthConfig struct {
	Test        []string      `json:",omitempty"`
	Interval    time.Duration `json:",omitempty"`
	Timeout     time.Duration `json:",omitempty"`
	StartPeriod time.Duration `json:",omitempty"`
	Retries     int           `json:",omitempty"`
}

type Config struct {
	Hostname        string
	Domainname      string
	User            string
	AttachStdin     bool
	AttachStdout    bool
	AttachStderr    bool
	ExposedPorts    PortSet `json:",omitempty"`
	Tty             bool
	OpenStdin       bool
	StdinOnce       bool
	Env             []string
	Cmd             StrSlice
	Healthcheck     *HealthConfig `json:",omitempty"`
	ArgsEscaped     bool          `json:",omitempty"`
	Image           string
	Volumes         map[string]struct{}
	WorkingDir      string
	Entrypoint      StrSlice
	NetworkDisabled bool   `json:",omitempty"`
	MacAddress      string `json:",omitempty"`
	OnBuild         []string
	Labels          map[string]string
	StopSignal      string   `json:",omitempty"`
	StopTimeout     *int     `json:",omitempty"`
	Shell           StrSlice `json:",omitempty"`
}

type CgroupnsMode string
type Isolation string
type IpcMode string
type NetworkMode string
type UsernsMode string
type CgroupSpec string
type UTSMode string
type PidMode string

type DeviceRequest struct {
	Driver       string
	Count        int
	DeviceIDs    []string
	Capabilities [][]string
	Options      map[string]string
}

type DeviceMapping struct {
	PathOnHost        string
	PathInContainer   string
	CgroupPermissions string
}

type RestartPolicy struct {
	Name              string
	MaximumRetryCount int
}

type LogConfig struct {
	Type   string
	Config map[string]string
}

type Resources struct {
	CPUShares            int64 `json:"CpuShares"`
	Memory               int64
	NanoCPUs             int64 `json:"NanoCpus"`
	CgroupParent         string
	BlkioWeight          uint16
	BlkioWeightDevice    []*WeightDevice
	BlkioDeviceReadBps   []*ThrottleDevice
	BlkioDeviceWriteBps  []*ThrottleDevice
	BlkioDeviceReadIOps  []*ThrottleDevice
	BlkioDeviceWriteIOps []*ThrottleDevice
	CPUPeriod            int64 `json:"CpuPeriod"`
	CPUQuota             int64 `json:"CpuQuota"`
	CPURealtimePeriod    int64 `json:"CpuRealtimePeriod"`
	CPURealtimeRuntime   int64 `json:"CpuRealtimeRuntime"`
	CpusetCpus           string
	CpusetMems           string
	Devices              []DeviceMapping
	DeviceCgroupRules    []string
	DeviceRequests       []DeviceRequest
	KernelMemory         int64
	KernelMemoryTCP      int64
	MemoryReservation    int64
	MemorySwap           int64
	MemorySwappiness     *int64
	OomKillDisable       *bool
	PidsLimit            *int64
	Ulimits              []*Ulimit
	CPUCount             int64 `json:"CpuCount"`
	CPUPercent           int64 `json:"CpuPercent"`
	IOMaximumIOps        uint64
	IOMaximumBandwidth   uint64
}

type UpdateConfig struct {
	Resources
	RestartPolicy RestartPolicy
}

type HostConfig struct {
	Binds           []string
	ContainerIDFile string
	LogConfig       LogConfig
	NetworkMode     NetworkMode
	PortBindings    PortMap
	RestartPolicy   RestartPolicy
	AutoRemove      bool
	VolumeDriver    string
	VolumesFrom     []string
	CapAdd          StrSlice
	CapDrop         StrSlice
	CgroupnsMode    CgroupnsMode
	DNS             []string `json:"Dns"`
	DNSOptions      []string `json:"DnsOptions"`
	DNSSearch       []string `json:"DnsSearch"`
	ExtraHosts      []string
	GroupAdd        []string
	IpcMode         IpcMode
	Cgroup          CgroupSpec
	Links           []string
	OomScoreAdj     int
	PidMode         PidMode
	Privileged      bool
	PublishAllPorts bool
	ReadonlyRootfs  bool
	SecurityOpt     []string
	StorageOpt      map[string]string `json:",omitempty"`
	Tmpfs           map[string]string `json:",omitempty"`
	UTSMode         UTSMode
	UsernsMode      UsernsMode
	ShmSize         int64
	Sysctls         map[string]string `json:",omitempty"`
	Runtime         string            `json:",omitempty"`
	ConsoleSize     [2]uint
	Isolation       Isolation
	Resources
	Mounts        []Mount `json:",omitempty"`
	MaskedPaths   []string
	ReadonlyPaths []string
	Init          *bool `json:",omitempty"`
}

// ---- api/types/network ----

type EndpointIPAMConfig struct {
	IPv4Address  string   `json:",omitempty"`
	IPv6Address  string   `json:",omitempty"`
	LinkLocalIPs []string `json:",omitempty"`
}

type EndpointSettings struct {
	IPAMConfig          *EndpointIPAMConfig
	Links               []string
	Aliases             []string
	NetworkID           string
	EndpointID          string
	Gateway             string
	IPAddress           string
	IPPrefixLen         int
	IPv6Gateway         string
	GlobalIPv6Address   string
	GlobalIPv6PrefixLen int
	MacAddress          string
	DriverOpts          map[string]string
}

type NetworkingConfig struct {
	EndpointsConfig map[string]*EndpointSettings
}

type IPAM struct {
	Driver  string
	Options map[string]string
	Config  []IPAMConfig
}

type IPAMConfig struct {
	Subnet     string            `json:",omitempty"`
	IPRange    string            `json:",omitempty"`
	Gateway    string            `json:",omitempty"`
	AuxAddress map[string]string `json:"AuxiliaryAddresses,omitempty"`
}

type ConfigReference struct {
	Network string
}

// ---- runconfig (config_unix.go) ----

type ContainerConfigWrapper struct {
	*Config
	InnerHostConfig  *HostConfig       `json:"HostConfig,omitempty"`
	Cpuset           string            `json:",omitempty"`
	NetworkingConfig *NetworkingConfig `json:"NetworkingConfig,omitempty"`
	*HostConfig
}

// ---- api/types (configs.go, types.go) ----

type ExecConfig struct {
	User         string
	Privileged   bool
	Tty          bool
	AttachStdin  bool
	AttachStderr bool
	AttachStdout bool
	Detach       bool
	DetachKeys   string
	Env          []string
	WorkingDir   string
	Cmd          []string
}

type ExecStartCheck struct {
	Detach bool
	Tty    bool
}

type NetworkCreate struct {
	CheckDuplicate bool
	Driver         string
	Scope          string
	EnableIPv6     bool
	IPAM           *IPAM
	Internal       bool
	Attachable     bool
	Ingress        bool
	ConfigOnly     bool
	ConfigFrom     *ConfigReference
	Options        map[string]string
	Labels         map[string]string
}

type NetworkCreateRequest struct {
	NetworkCreate
	Name string
}

type NetworkConnect struct {
	Container      string
	EndpointConfig *EndpointSettings `json:",omitempty"`
}

type NetworkDisconnect struct {
	Container string
	Force     bool
}

// ---- api/types/volume ----

type VolumeCreateBody struct {
	Driver     string            `json:"Driver"`
	DriverOpts map[string]string `json:"DriverOpts"`
	Labels     map[string]string `json:"Labels"`
	Name       string            `json:"Name"`
}

// ---- not moby: Go's embedding and naming rules, one case each ----

type TInner struct {
	A   string
	B   int
	Dup string
	T   string
}

type TOther struct {
	Dup    string
	C      bool
	Tagged string `json:"T"`
}

type TDeep struct {
	A string
	D string
}

type TDeep2 struct {
	H string
}

type TTag struct {
	X string `json:"Same"`
}

type TUntag struct {
	Same string
}

type TMid struct {
	TDeep
	*TDeep2
	TOther
	E string
}

type TMid2 struct {
	TDeep
	TTag
	G string
}

// Torture: Dup cancels (two untagged at one depth), T is TOther's tagged
// field (tag beats untagged at one depth), Same is TUntag's (depth beats a
// tag), D cancels (TDeep embedded twice at one level), A is TInner's
// (shallowest), TOther inside TMid is not explored again, H allocates TMid
// and TDeep2, Td and Tp are embedded but tagged (plain fields), Skip is
// hidden, Dash is named "-", Quote's tag is not a valid name.
type Torture struct {
	*TInner
	TOther
	*TMid
	TMid2
	TUntag
	TDeep2   `json:"Td"`
	*TTag    `json:"Tp"`
	Named    TInner `json:"Named"`
	F        float64
	Any      interface{}
	I8       int8
	I16      int16
	I32      int32
	U8       uint8
	U32      uint32
	Arr      [3]string
	PS       []*TInner
	MS       map[string]TInner
	MP       map[string]*TInner
	SS       [][]string
	SA       []interface{}
	Skip     string `json:"-"`
	Dash     string `json:"-,"`
	Weird    string `json:"we ird!"`
	Quote    string `json:"a'b"`
	Ab       string
	AB       string
	KelvinSk string
	Cmd      StrSlice
}

// newTarget returns a pointer to a zero value of the named body type.
func newTarget(schema string) interface{} {
	switch schema {
	case "create":
		return new(ContainerConfigWrapper)
	case "update":
		return new(UpdateConfig)
	case "exec":
		return new(ExecConfig)
	case "execstart":
		return new(ExecStartCheck)
	case "netcreate":
		return new(NetworkCreateRequest)
	case "netconnect":
		return new(NetworkConnect)
	case "netdisconnect":
		return new(NetworkDisconnect)
	case "volcreate":
		return new(VolumeCreateBody)
	case "torture":
		return new(Torture)
	}
	return nil
}

func h(s string) string { return hex.EncodeToString([]byte(s)) }

func dump(b *strings.Builder, v reflect.Value) {
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface:
		if v.IsNil() {
			b.WriteString("nil")
			return
		}
		if v.Kind() == reflect.Pointer {
			b.WriteString("&")
		}
		dump(b, v.Elem())
	case reflect.Struct:
		b.WriteString("{")
		for i := 0; i < v.NumField(); i++ {
			if i > 0 {
				b.WriteString(",")
			}
			b.WriteString(v.Type().Field(i).Name)
			b.WriteString("=")
			dump(b, v.Field(i))
		}
		b.WriteString("}")
	case reflect.Map:
		if v.IsNil() {
			b.WriteString("nil")
			return
		}
		keys := v.MapKeys()
		sort.Slice(keys, func(i, j int) bool { return keys[i].String() < keys[j].String() })
		b.WriteString("map{")
		for i, k := range keys {
			if i > 0 {
				b.WriteString(",")
			}
			b.WriteString(h(k.String()))
			b.WriteString(":")
			dump(b, v.MapIndex(k))
		}
		b.WriteString("}")
	case reflect.Slice:
		if v.IsNil() {
			b.WriteString("nil")
			return
		}
		fallthrough
	case reflect.Array:
		b.WriteString("[")
		for i := 0; i < v.Len(); i++ {
			if i > 0 {
				b.WriteString(",")
			}
			dump(b, v.Index(i))
		}
		b.WriteString("]")
	case reflect.String:
		b.WriteString(`"` + h(v.String()) + `"`)
	case reflect.Bool:
		b.WriteString(strconv.FormatBool(v.Bool()))
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		b.WriteString(strconv.FormatInt(v.Int(), 10))
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		b.WriteString(strconv.FormatUint(v.Uint(), 10))
	case reflect.Float64:
		fmt.Fprintf(b, "f%016x", math.Float64bits(v.Float()))
	default:
		b.WriteString("?" + v.Kind().String())
	}
}

func layout(b *strings.Builder, t reflect.Type, seen map[string]bool) {
	if t.Name() == "StrSlice" {
		b.WriteString("StrSlice")
		return
	}
	switch t.Kind() {
	case reflect.Pointer:
		b.WriteString("*")
		layout(b, t.Elem(), seen)
	case reflect.Slice:
		b.WriteString("[]")
		layout(b, t.Elem(), seen)
	case reflect.Array:
		fmt.Fprintf(b, "[%d]", t.Len())
		layout(b, t.Elem(), seen)
	case reflect.Map:
		if t.Key().Kind() != reflect.String {
			b.WriteString("?mapkey")
		}
		b.WriteString("map[string]")
		layout(b, t.Elem(), seen)
	case reflect.Struct:
		name := t.Name()
		if name == "" {
			name = "struct {}"
		}
		b.WriteString("struct " + name)
		if seen[name] {
			return
		}
		seen[name] = true
		b.WriteString("{")
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			if i > 0 {
				b.WriteString(";")
			}
			emb := ""
			if f.Anonymous {
				emb = " embedded"
			}
			fmt.Fprintf(b, "%s %q%s ", f.Name, f.Tag.Get("json"), emb)
			layout(b, f.Type, seen)
		}
		b.WriteString("}")
	case reflect.Interface:
		b.WriteString("interface {}")
	case reflect.Int, reflect.Uint:
		// int and uint: their width is the platform's
		b.WriteString(t.Kind().String())
	case reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		fmt.Fprintf(b, "int%d", t.Bits())
	case reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		fmt.Fprintf(b, "uint%d", t.Bits())
	default:
		b.WriteString(t.Kind().String())
	}
}

func main() {
	in := bufio.NewScanner(os.Stdin)
	in.Buffer(make([]byte, 1<<20), 64<<20)
	out := bufio.NewWriter(os.Stdout)
	defer out.Flush()
	for in.Scan() {
		f := strings.Split(in.Text(), "\t")
		target := newTarget(f[1])
		if target == nil {
			fmt.Fprintf(out, "err\t%s\n", h("unknown schema "+f[1]))
			continue
		}
		var b strings.Builder
		switch f[0] {
		case "layout":
			layout(&b, reflect.TypeOf(target).Elem(), map[string]bool{})
			fmt.Fprintf(out, "ok\t%s\n", b.String())
		case "decode":
			body, err := hex.DecodeString(f[2])
			if err != nil {
				panic(err)
			}
			// dockerd's own call: decodeContainerConfig, postContainerUpdate,
			// postContainerExecCreate, postNetworkCreate, … all do this.
			if err := json.NewDecoder(bytes.NewReader(body)).Decode(target); err != nil {
				fmt.Fprintf(out, "err\t%s\n", h(err.Error()))
				continue
			}
			dump(&b, reflect.ValueOf(target).Elem())
			fmt.Fprintf(out, "ok\t%s\n", b.String())
		default:
			panic("unknown op " + f[0])
		}
	}
}

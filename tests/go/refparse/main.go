// Command refparse is the Go oracle for tests/reference_differential.rs.
//
// It reads one question per line from stdin, fields separated by tabs, every
// argument hex-encoded, and answers one line each: "ok" or "err" or "none",
// then tab-separated hex fields.
//
//	norm S       reference.ParseNormalizedNamed(S) -> String, Name, Domain,
//	             Path, Tag, Digest, FamiliarName, FamiliarString, IsNameOnly,
//	             TagNameOnly(...).String(), ParseDockerRef(S) ("!" + error)
//	any S        reference.ParseAnyReference(S) -> kind, String, FamiliarString
//	digest S     digest.Parse(S) -> String
//	pull F T     what PullImage pulls for POST /images/create?fromImage=F&tag=T
//	             -> String, "all" or "one"; "none" when F is empty (an import)
//	tag R T      TagImage + AddTag: the tag POST /images/{name}/tag and
//	             POST /commit create -> String, FamiliarString
//	import R T   ImportImage + AddTag -> String; "none" when R is empty
//	build T...   sanitizeRepoAndTags + AddTag for a build's t= values -> Strings
//	idprefix S   GetImage's fallback: imageStore.Search(S) over an image store
//	             holding only the image idprefixID, reached when
//	             ParseAnyReference(S) gives a name -> the ID found, or "none"
//	cfg H        getAuthConfigs with X-Registry-Config: H -> json.Marshal(map)
//	auth H       postImagesCreate's X-Registry-Auth: H decode -> json.Marshal
//	resolve H R  pullForBuilder's choice of credentials for FROM R with
//	             X-Registry-Config: H -> every distinct result, sorted; with
//	             more than one entry it runs 512 times, since Go maps iterate
//	             in random order (one of 8 slots first, for these small maps)
//
// The reference grammar is the real docker/distribution package (Debian
// golang-github-docker-distribution-dev, built in GOPATH mode). The moby
// v20.10.24 code that decides what the daemon does with a reference or with
// credentials is copied below verbatim from the files named at each function,
// because importing github.com/docker/docker would pull in its whole
// dependency tree; only the receivers and stores are cut away.
package main

import (
	"bufio"
	_ "crypto/sha256" // dockerd links these; go-digest only offers
	_ "crypto/sha512" // algorithms whose hash is linked in.
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"sort"
	"strings"

	"github.com/docker/distribution/digestset"
	"github.com/docker/distribution/reference"
	digest "github.com/opencontainers/go-digest"
)

// AuthConfig is api/types/auth.go's, field for field.
type AuthConfig struct {
	Username      string `json:"username,omitempty"`
	Password      string `json:"password,omitempty"`
	Auth          string `json:"auth,omitempty"`
	Email         string `json:"email,omitempty"`
	ServerAddress string `json:"serveraddress,omitempty"`
	IdentityToken string `json:"identitytoken,omitempty"`
	RegistryToken string `json:"registrytoken,omitempty"`
}

// IndexInfo is the part of api/types/registry IndexInfo that
// ResolveAuthConfig reads.
type IndexInfo struct {
	Name     string
	Official bool
}

// registry/config.go
const (
	IndexHostname = "index.docker.io"
	IndexServer   = "https://" + IndexHostname + "/v1/"
	IndexName     = "docker.io"
)

// registry/config.go ValidateIndexName
func ValidateIndexName(val string) (string, error) {
	// TODO: upstream this to check to reference package
	if val == "index.docker.io" {
		val = "docker.io"
	}
	if strings.HasPrefix(val, "-") || strings.HasSuffix(val, "-") {
		return "", fmt.Errorf("invalid index name (%s). Cannot begin or end with a hyphen", val)
	}
	return val, nil
}

// registry/config.go newIndexInfo, for the daemon's configuration: its
// IndexConfigs always map IndexName to an official index (LoadMirrors and
// LoadInsecureRegistries both end by setting it), and any other configured
// index keeps the name it is looked up by and is not official.
func newIndexInfo(indexName string) (*IndexInfo, error) {
	var err error
	indexName, err = ValidateIndexName(indexName)
	if err != nil {
		return nil, err
	}
	return &IndexInfo{Name: indexName, Official: indexName == IndexName}, nil
}

// registry/config.go GetAuthConfigKey
func GetAuthConfigKey(index *IndexInfo) string {
	if index.Official {
		return IndexServer
	}
	return index.Name
}

// registry/auth.go ConvertToHostname
func ConvertToHostname(url string) string {
	stripped := url
	if strings.HasPrefix(url, "http://") {
		stripped = strings.TrimPrefix(url, "http://")
	} else if strings.HasPrefix(url, "https://") {
		stripped = strings.TrimPrefix(url, "https://")
	}

	nameParts := strings.SplitN(stripped, "/", 2)

	return nameParts[0]
}

// registry/auth.go ResolveAuthConfig
func ResolveAuthConfig(authConfigs map[string]AuthConfig, index *IndexInfo) AuthConfig {
	configKey := GetAuthConfigKey(index)
	// First try the happy case
	if c, found := authConfigs[configKey]; found || index.Official {
		return c
	}

	// Maybe they have a legacy config file, we will iterate the keys converting
	// them to the new format and testing
	for registry, ac := range authConfigs {
		if configKey == ConvertToHostname(registry) {
			return ac
		}
	}

	// When all else fails, return an empty auth config
	return AuthConfig{}
}

// api/server/router/build/build_routes.go getAuthConfigs
func getAuthConfigs(header http.Header) map[string]AuthConfig {
	authConfigs := map[string]AuthConfig{}
	authConfigsEncoded := header.Get("X-Registry-Config")

	if authConfigsEncoded == "" {
		return authConfigs
	}

	authConfigsJSON := base64.NewDecoder(base64.URLEncoding, strings.NewReader(authConfigsEncoded))
	// Pulling an image does not error when no auth is provided so to remain
	// consistent with the existing api decode errors are ignored
	_ = json.NewDecoder(authConfigsJSON).Decode(&authConfigs)
	return authConfigs
}

// api/server/router/image/image_routes.go postImagesCreate, the pull branch's
// reading of X-Registry-Auth.
func registryAuth(authEncoded string) *AuthConfig {
	authConfig := &AuthConfig{}
	if authEncoded != "" {
		authJSON := base64.NewDecoder(base64.URLEncoding, strings.NewReader(authEncoded))
		if err := json.NewDecoder(authJSON).Decode(authConfig); err != nil {
			// for a pull it is not an error if no auth was given
			// to increase compatibility with the existing api it is defaulting to be empty
			authConfig = &AuthConfig{}
		}
	}
	return authConfig
}

// daemon/images/image_builder.go pullForBuilder, up to the choice of
// credentials (i.registryService.ResolveRepository is newIndexInfo on the
// reference's domain).
func pullForBuilderAuth(name string, authConfigs map[string]AuthConfig) (AuthConfig, error) {
	ref, err := reference.ParseNormalizedNamed(name)
	if err != nil {
		return AuthConfig{}, err
	}
	ref = reference.TagNameOnly(ref)

	pullRegistryAuth := &AuthConfig{}
	if len(authConfigs) > 0 {
		// The request came with a full auth config, use it
		index, err := newIndexInfo(reference.Domain(ref))
		if err != nil {
			return AuthConfig{}, err
		}

		resolvedConfig := ResolveAuthConfig(authConfigs, index)
		pullRegistryAuth = &resolvedConfig
	}
	return *pullRegistryAuth, nil
}

// daemon/images/image_pull.go PullImage, up to the reference it pulls.
func pullReference(image, tag string) (reference.Named, error) {
	// Special case: "pull -a" may send an image name with a
	// trailing :. This is ugly, but let's not break API
	// compatibility.
	image = strings.TrimSuffix(image, ":")

	ref, err := reference.ParseNormalizedNamed(image)
	if err != nil {
		return nil, err
	}

	if tag != "" {
		// The "tag" could actually be a digest.
		var dgst digest.Digest
		dgst, err = digest.Parse(tag)
		if err == nil {
			ref, err = reference.WithDigest(reference.TrimNamed(ref), dgst)
		} else {
			ref, err = reference.WithTag(ref, tag)
		}
		if err != nil {
			return nil, err
		}
	}
	return ref, nil
}

// reference/store.go AddTag, favorDigest and the checks of addReference, up
// to the store: the reference that is stored.
func addTag(ref reference.Named) (reference.Named, error) {
	if _, isCanonical := ref.(reference.Canonical); isCanonical {
		return nil, errors.New("refusing to create a tag with a digest reference")
	}
	ref = reference.TagNameOnly(ref)
	// favorDigest: only changes references with both tag and digest, which
	// cannot reach here.
	refName := reference.FamiliarName(ref)
	if refName == string(digest.Canonical) {
		return nil, errors.New("refusing to create an ambiguous tag using digest algorithm as name")
	}
	return ref, nil
}

// daemon/images/image_tag.go TagImage, after GetImage.
func tagImage(repository, tag string) (reference.Named, error) {
	newTag, err := reference.ParseNormalizedNamed(repository)
	if err != nil {
		return nil, err
	}
	if tag != "" {
		if newTag, err = reference.WithTag(reference.TrimNamed(newTag), tag); err != nil {
			return nil, err
		}
	}
	return addTag(newTag)
}

// daemon/images/image_import.go ImportImage: its reading of repo and tag, and
// the AddTag that TagImageWithReference makes after the import.
func importImage(repository, tag string) (reference.Named, error) {
	var newRef reference.Named
	if repository != "" {
		var err error
		newRef, err = reference.ParseNormalizedNamed(repository)
		if err != nil {
			return nil, err
		}
		if _, isCanonical := newRef.(reference.Canonical); isCanonical {
			return nil, errors.New("cannot import digest reference")
		}

		if tag != "" {
			newRef, err = reference.WithTag(newRef, tag)
			if err != nil {
				return nil, err
			}
		}
	}
	if newRef == nil {
		return nil, nil
	}
	return addTag(newRef)
}

// api/server/backend/build/tag.go sanitizeRepoAndTags
func sanitizeRepoAndTags(names []string) ([]reference.Named, error) {
	var (
		repoAndTags []reference.Named
		// This map is used for deduplicating the "-t" parameter.
		uniqNames = make(map[string]struct{})
	)
	for _, repo := range names {
		if repo == "" {
			continue
		}

		ref, err := reference.ParseNormalizedNamed(repo)
		if err != nil {
			return nil, err
		}

		if _, isCanonical := ref.(reference.Canonical); isCanonical {
			return nil, errors.New("build tag cannot contain a digest")
		}

		ref = reference.TagNameOnly(ref)

		nameWithTag := ref.String()

		if _, exists := uniqNames[nameWithTag]; !exists {
			uniqNames[nameWithTag] = struct{}{}
			repoAndTags = append(repoAndTags, ref)
		}
	}
	return repoAndTags, nil
}

// The only image in idprefix's image store.
const idprefixID = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

func h(s string) string { return hex.EncodeToString([]byte(s)) }

func b(v bool) string {
	if v {
		return "1"
	}
	return "0"
}

func answer(status string, fields ...string) string {
	out := status
	for _, f := range fields {
		out += "\t" + h(f)
	}
	return out
}

func fail(err error) string { return answer("err", err.Error()) }

func marshal(v interface{}) string {
	out, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return string(out)
}

func tagOf(r reference.Reference) string {
	if t, ok := r.(reference.Tagged); ok {
		return t.Tag()
	}
	return ""
}

func digestOf(r reference.Reference) string {
	if d, ok := r.(reference.Digested); ok {
		return d.Digest().String()
	}
	return ""
}

func ask(op string, args []string) string {
	switch op {
	case "norm":
		n, err := reference.ParseNormalizedNamed(args[0])
		if err != nil {
			return fail(err)
		}
		dockerRef := "!"
		if r, err := reference.ParseDockerRef(args[0]); err != nil {
			dockerRef += err.Error()
		} else {
			dockerRef = r.String()
		}
		return answer("ok", n.String(), n.Name(), reference.Domain(n), reference.Path(n),
			tagOf(n), digestOf(n), reference.FamiliarName(n), reference.FamiliarString(n),
			b(reference.IsNameOnly(n)), reference.TagNameOnly(n).String(), dockerRef)
	case "any":
		r, err := reference.ParseAnyReference(args[0])
		if err != nil {
			return fail(err)
		}
		kind := "digest"
		if _, ok := r.(reference.Named); ok {
			kind = "named"
		}
		return answer("ok", kind, r.String(), reference.FamiliarString(r))
	case "digest":
		d, err := digest.Parse(args[0])
		if err != nil {
			return fail(err)
		}
		return answer("ok", d.String())
	case "pull":
		if args[0] == "" {
			return "none"
		}
		r, err := pullReference(args[0], args[1])
		if err != nil {
			return fail(err)
		}
		which := "one"
		if reference.IsNameOnly(r) {
			which = "all"
		}
		return answer("ok", r.String(), which)
	case "tag":
		r, err := tagImage(args[0], args[1])
		if err != nil {
			return fail(err)
		}
		return answer("ok", r.String(), reference.FamiliarString(r))
	case "import":
		r, err := importImage(args[0], args[1])
		if err != nil {
			return fail(err)
		}
		if r == nil {
			return "none"
		}
		return answer("ok", r.String())
	case "build":
		refs, err := sanitizeRepoAndTags(args)
		if err != nil {
			return fail(err)
		}
		var out []string
		for _, r := range refs {
			if _, err := addTag(r); err != nil {
				return fail(err)
			}
			out = append(out, r.String())
		}
		return answer("ok", out...)
	case "idprefix":
		r, err := reference.ParseAnyReference(args[0])
		if err != nil {
			return "none"
		}
		if _, ok := r.(reference.Named); !ok {
			return "none"
		}
		set := digestset.NewSet()
		if err := set.Add(digest.Digest(idprefixID)); err != nil {
			panic(err)
		}
		d, err := set.Lookup(args[0])
		if err != nil {
			return "none"
		}
		return answer("ok", d.String())
	case "cfg":
		header := http.Header{}
		header.Set("X-Registry-Config", args[0])
		return answer("ok", marshal(getAuthConfigs(header)))
	case "auth":
		return answer("ok", marshal(registryAuth(args[0])))
	case "resolve":
		header := http.Header{}
		header.Set("X-Registry-Config", args[0])
		configs := getAuthConfigs(header)
		runs := 1
		if len(configs) > 1 {
			runs = 512
		}
		seen := map[AuthConfig]bool{}
		for i := 0; i < runs; i++ {
			c, err := pullForBuilderAuth(args[1], configs)
			if err != nil {
				return fail(err)
			}
			seen[c] = true
		}
		var out []string
		for c := range seen {
			out = append(out, marshal(c))
		}
		sort.Strings(out)
		return answer("ok", out...)
	}
	panic("unknown op " + op)
}

func main() {
	in := bufio.NewScanner(os.Stdin)
	in.Buffer(make([]byte, 1<<20), 1<<26)
	out := bufio.NewWriter(os.Stdout)
	defer out.Flush()
	for in.Scan() {
		fields := strings.Split(in.Text(), "\t")
		var args []string
		for _, f := range fields[1:] {
			a, err := hex.DecodeString(f)
			if err != nil {
				panic(err)
			}
			args = append(args, string(a))
		}
		fmt.Fprintln(out, ask(fields[0], args))
	}
	if err := in.Err(); err != nil {
		panic(err)
	}
}

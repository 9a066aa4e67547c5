package node_test

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/spf13/pflag"
	"go.yaml.in/yaml/v3"

	"github.com/heraldhq/herald/config"
)

// The deployment files cannot run here (no container engine, no cluster),
// so they are kept correct by reading them as their tools would and
// loading, for every Herald process they start, the configuration that
// process would get.

// nodeSecrets stand in for the secrets an operator supplies.
var nodeSecrets = map[string]string{
	"HERALD_SECRET_KEY":     strings.Repeat("ab", 32),
	"HERALD_INTERNAL_TOKEN": "shared-between-nodes",
}

// loadNode loads the configuration of `herald <args>` with environ.
func loadNode(t *testing.T, args []string, environ map[string]string) (config.Config, error) {
	t.Helper()
	if len(args) == 0 || args[0] != "serve" {
		t.Fatalf("command %v does not run herald serve", args)
	}
	fs := pflag.NewFlagSet("serve", pflag.ContinueOnError)
	config.Flags(fs)
	if err := fs.Parse(args[1:]); err != nil {
		return config.Config{}, err
	}
	env := make([]string, 0, len(environ))
	for k, v := range environ {
		env = append(env, k+"="+v)
	}
	return config.Load(fs, env)
}

// servicesOf is what a node runs, from its --services flags (none: all).
func servicesOf(args []string) []string {
	var out []string
	for i, a := range args {
		if a == "--services" && i+1 < len(args) {
			out = append(out, strings.Split(args[i+1], ",")...)
		}
	}
	if len(out) == 0 {
		return slices.Clone(config.AllServices)
	}
	return out
}

func TestDockerfileBuildsAStaticBinaryRunAsNonRoot(t *testing.T) {
	t.Parallel()
	raw, err := os.ReadFile("../Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	var stages [][]string // the instructions of each stage
	for _, line := range strings.Split(string(raw), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if strings.HasPrefix(strings.ToUpper(line), "FROM ") {
			stages = append(stages, nil)
		}
		if len(stages) == 0 {
			t.Fatalf("instruction before the first FROM: %q", line)
		}
		stages[len(stages)-1] = append(stages[len(stages)-1], line)
	}
	if len(stages) < 2 {
		t.Fatalf("%d stages, want a build stage and a run stage", len(stages))
	}
	build, run := strings.Join(stages[0], "\n"), stages[len(stages)-1]
	if !strings.Contains(build, "CGO_ENABLED=0") || !strings.Contains(build, "./cmd/herald") {
		t.Errorf("the build stage must build ./cmd/herald with CGO_ENABLED=0 (a static binary):\n%s", build)
	}
	var user, entry string
	for _, ins := range run {
		switch f := strings.Fields(ins); strings.ToUpper(f[0]) {
		case "USER":
			user = f[1]
		case "ENTRYPOINT":
			entry = ins
		}
	}
	if name, _, _ := strings.Cut(user, ":"); name == "" || name == "0" || name == "root" {
		t.Errorf("the image runs as %q, want a non-root user", user)
	}
	if !strings.Contains(entry, "herald") {
		t.Errorf("the image's entrypoint %q does not run herald", entry)
	}
}

type composeFile struct {
	Services map[string]composeService `yaml:"services"`
	Volumes  map[string]any            `yaml:"volumes"`
}

type composeService struct {
	Image       string            `yaml:"image"`
	Build       any               `yaml:"build"`
	Command     []string          `yaml:"command"`
	Environment map[string]string `yaml:"environment"`
	Profiles    []string          `yaml:"profiles"`
	Ports       []string          `yaml:"ports"`
	DependsOn   map[string]any    `yaml:"depends_on"`
	Volumes     []string          `yaml:"volumes"`
}

// composeVar is ${NAME}, ${NAME:-default} or ${NAME:?message}.
var composeVar = regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)(?::?[-?][^}]*)?\}`)

func TestComposeFileStartsEveryTopology(t *testing.T) {
	t.Parallel()
	raw, err := os.ReadFile("../deploy/compose.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var f composeFile
	if err := yaml.Unmarshal(raw, &f); err != nil {
		t.Fatalf("deploy/compose.yaml: %v", err)
	}
	// Per profile, how many Herald nodes run each service.
	runs := map[string]map[string]int{}
	for name, s := range f.Services {
		if s.Image == "" {
			t.Errorf("service %s names no image", name)
		}
		if len(s.Profiles) == 0 {
			t.Errorf("service %s is in no profile: it would start with every topology", name)
		}
		for dep := range s.DependsOn {
			if _, ok := f.Services[dep]; !ok {
				t.Errorf("service %s depends on %s, which is not defined", name, dep)
			}
		}
		for _, v := range s.Volumes {
			vol, _, _ := strings.Cut(v, ":")
			if _, ok := f.Volumes[vol]; !ok && !strings.HasPrefix(vol, ".") && !strings.HasPrefix(vol, "/") {
				t.Errorf("service %s mounts volume %s, which is not defined", name, vol)
			}
		}
		if !strings.HasPrefix(s.Image, "herald") {
			continue
		}
		if s.Build == nil {
			t.Errorf("service %s runs Herald's image but does not say how to build it", name)
		}
		env := map[string]string{}
		for k, v := range s.Environment {
			env[k] = composeVar.ReplaceAllStringFunc(v, func(m string) string {
				secret, ok := nodeSecrets[composeVar.FindStringSubmatch(m)[1]]
				if !ok {
					t.Errorf("service %s: %s uses %s, which is not one of the documented secrets", name, k, m)
				}
				return secret
			})
		}
		c, err := loadNode(t, s.Command, env)
		if err != nil {
			t.Errorf("service %s (%v): %v", name, s.Command, err)
			continue
		}
		if strings.HasPrefix(c.Store.URL, "sqlite") || c.Bus.URL == "mem://" || c.Coord.URL == "mem://" {
			t.Errorf("service %s uses embedded ports: store %q bus %q coord %q", name, c.Store.URL, c.Bus.URL, c.Coord.URL)
		}
		for _, p := range s.Profiles {
			if runs[p] == nil {
				runs[p] = map[string]int{}
			}
			for _, svc := range servicesOf(s.Command) {
				runs[p][svc]++
			}
		}
	}
	want := map[string]map[string]int{
		"seed":  {"portal": 1, "trigger": 1, "publisher": 1, "notification": 1},
		"split": {"portal": 2, "trigger": 2, "publisher": 2, "notification": 1},
	}
	for p, w := range want {
		for svc, n := range w {
			if runs[p][svc] != n {
				t.Errorf("profile %s runs %s on %d nodes, want %d", p, svc, runs[p][svc], n)
			}
		}
	}
}

type k8sObject struct {
	Kind     string `yaml:"kind"`
	Metadata struct {
		Name string `yaml:"name"`
	} `yaml:"metadata"`
	Data       map[string]string `yaml:"data"`
	StringData map[string]string `yaml:"stringData"`
	Spec       yaml.Node         `yaml:"spec"`
}

type k8sDeployment struct {
	Replicas int `yaml:"replicas"`
	Selector struct {
		MatchLabels map[string]string `yaml:"matchLabels"`
	} `yaml:"selector"`
	Template struct {
		Metadata struct {
			Labels map[string]string `yaml:"labels"`
		} `yaml:"metadata"`
		Spec struct {
			Containers []k8sContainer `yaml:"containers"`
			Volumes    []struct {
				Name      string `yaml:"name"`
				ConfigMap *struct {
					Name string `yaml:"name"`
				} `yaml:"configMap"`
			} `yaml:"volumes"`
		} `yaml:"spec"`
	} `yaml:"template"`
}

type k8sProbe struct {
	HTTPGet struct {
		Path string `yaml:"path"`
	} `yaml:"httpGet"`
}

type k8sContainer struct {
	Name    string   `yaml:"name"`
	Image   string   `yaml:"image"`
	Args    []string `yaml:"args"`
	EnvFrom []struct {
		SecretRef struct {
			Name string `yaml:"name"`
		} `yaml:"secretRef"`
	} `yaml:"envFrom"`
	LivenessProbe  *k8sProbe `yaml:"livenessProbe"`
	ReadinessProbe *k8sProbe `yaml:"readinessProbe"`
	Resources      struct {
		Requests map[string]string `yaml:"requests"`
		Limits   map[string]string `yaml:"limits"`
	} `yaml:"resources"`
	VolumeMounts []struct {
		Name      string `yaml:"name"`
		MountPath string `yaml:"mountPath"`
	} `yaml:"volumeMounts"`
}

func TestKubernetesManifestsRunEveryService(t *testing.T) {
	t.Parallel()
	raw, err := os.ReadFile("../deploy/kubernetes/herald.yaml")
	if err != nil {
		t.Fatal(err)
	}
	objects := map[string]map[string]k8sObject{} // kind -> name -> object
	dec := yaml.NewDecoder(bytes.NewReader(raw))
	for {
		var o k8sObject
		err := dec.Decode(&o)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("deploy/kubernetes/herald.yaml: %v", err)
		}
		if o.Kind == "" || o.Metadata.Name == "" {
			t.Fatalf("an object without kind or name: %+v", o)
		}
		if objects[o.Kind] == nil {
			objects[o.Kind] = map[string]k8sObject{}
		}
		objects[o.Kind][o.Metadata.Name] = o
	}
	services := map[string]int{} // Herald service -> replicas
	for name, o := range objects["Deployment"] {
		var d k8sDeployment
		if err := o.Spec.Decode(&d); err != nil {
			t.Fatalf("Deployment %s: %v", name, err)
		}
		for k, v := range d.Selector.MatchLabels {
			if d.Template.Metadata.Labels[k] != v {
				t.Errorf("Deployment %s: its selector %s=%s does not match its pods", name, k, v)
			}
		}
		exposed := false
		for _, so := range objects["Service"] {
			var s struct {
				Selector map[string]string `yaml:"selector"`
			}
			if err := so.Spec.Decode(&s); err != nil {
				t.Fatal(err)
			}
			if len(s.Selector) > 0 && matches(s.Selector, d.Template.Metadata.Labels) {
				exposed = true
			}
		}
		if !exposed {
			t.Errorf("Deployment %s: no Service selects its pods", name)
		}
		mounts := map[string]string{} // volume -> ConfigMap
		for _, v := range d.Template.Spec.Volumes {
			if v.ConfigMap != nil {
				mounts[v.Name] = v.ConfigMap.Name
			}
		}
		for _, c := range d.Template.Spec.Containers {
			where := "Deployment " + name + ", container " + c.Name
			switch {
			case c.Image == "":
				t.Errorf("%s: no image", where)
			case c.LivenessProbe == nil || c.LivenessProbe.HTTPGet.Path != "/healthz":
				t.Errorf("%s: want a liveness probe on /healthz", where)
			case c.ReadinessProbe == nil || c.ReadinessProbe.HTTPGet.Path != "/readyz":
				t.Errorf("%s: want a readiness probe on /readyz", where)
			}
			for _, r := range []string{"cpu", "memory"} {
				if c.Resources.Requests[r] == "" || c.Resources.Limits[r] == "" {
					t.Errorf("%s: want a request and a limit of %s", where, r)
				}
			}
			// The configuration the container would load: the ConfigMap's
			// files where they are mounted, the Secret in its environment.
			args := slices.Clone(c.Args)
			dir := t.TempDir()
			for _, m := range c.VolumeMounts {
				cm, ok := mounts[m.Name]
				if !ok {
					continue
				}
				for file, content := range objects["ConfigMap"][cm].Data {
					path := filepath.Join(dir, file)
					if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
						t.Fatal(err)
					}
					for i, a := range args {
						if a == m.MountPath+"/"+file {
							args[i] = path
						}
					}
				}
			}
			env := map[string]string{}
			for _, ef := range c.EnvFrom {
				secret, ok := objects["Secret"][ef.SecretRef.Name]
				if !ok {
					t.Errorf("%s: reads Secret %s, which is not defined", where, ef.SecretRef.Name)
				}
				for k := range secret.StringData {
					v, ok := nodeSecrets[k]
					if !ok {
						t.Errorf("Secret %s: %s is not one of the documented secrets", ef.SecretRef.Name, k)
					}
					env[k] = v
				}
			}
			if _, err := loadNode(t, args, env); err != nil {
				t.Errorf("%s (%v): %v", where, c.Args, err)
			}
			for _, svc := range servicesOf(args) {
				services[svc] += d.Replicas
			}
		}
	}
	for _, svc := range config.AllServices {
		if services[svc] == 0 {
			t.Errorf("no Deployment runs %s", svc)
		}
	}
	if services["trigger"] < 2 || services["portal"] < 2 {
		t.Errorf("portal runs on %d pods and trigger on %d, want at least 2 of each (no single point of failure)", services["portal"], services["trigger"])
	}
	for name, o := range objects["HorizontalPodAutoscaler"] {
		var h struct {
			ScaleTargetRef struct {
				Kind string `yaml:"kind"`
				Name string `yaml:"name"`
			} `yaml:"scaleTargetRef"`
		}
		if err := o.Spec.Decode(&h); err != nil {
			t.Fatal(err)
		}
		if _, ok := objects[h.ScaleTargetRef.Kind][h.ScaleTargetRef.Name]; !ok {
			t.Errorf("HorizontalPodAutoscaler %s scales %s %s, which is not defined", name, h.ScaleTargetRef.Kind, h.ScaleTargetRef.Name)
		}
	}
	if _, ok := objects["HorizontalPodAutoscaler"]["herald-publisher"]; !ok {
		t.Errorf("Publisher has no HorizontalPodAutoscaler")
	}
}

func matches(selector, labels map[string]string) bool {
	for k, v := range selector {
		if labels[k] != v {
			return false
		}
	}
	return true
}

package ledger

import (
	"slices"
	"testing"

	"github.com/vitalchain/vitalchain/identity"
)

func TestMigrate(t *testing.T) {
	t.Parallel()
	c := newTestChain(t, 2)
	patient := c.register(identity.RolePatient, nil)
	d1, d2 := c.register(identity.RoleDevice, patient), c.register(identity.RoleDevice, patient)
	provider := c.register(identity.RoleProvider, nil)
	devs := []identity.ID{d1.ID(), d2.ID()}
	slices.SortFunc(devs, func(a, b identity.ID) int { return slices.Compare(a[:], b[:]) })

	r := c.ok(patient.Signing, &Migrate{Cluster: 2, Devices: devs})
	if got := attrs(r.Events, "migrate", "to"); len(got) != 1 || got[0] != "2" {
		t.Fatalf("migrate event: %v", r.Events)
	}
	if got := attrs(r.Events, "migrate", "device"); len(got) != 2 {
		t.Fatalf("migrate event devices: %v", got)
	}
	c.ok(provider.Signing, &Migrate{Cluster: 2})
	var one, two ClusterInfo
	c.mustQuery("cluster/1", &one)
	c.mustQuery("cluster/2", &two)
	if slices.Contains(one.Requestees, patient.ID()) || !slices.Contains(two.Requestees, patient.ID()) {
		t.Errorf("requestees: cluster 1 %v, cluster 2 %v", one.Requestees, two.Requestees)
	}
	if slices.Contains(one.Requesters, provider.ID()) || !slices.Contains(two.Requesters, provider.ID()) {
		t.Errorf("requesters: cluster 1 %v, cluster 2 %v", one.Requesters, two.Requesters)
	}
	for _, id := range append([]identity.ID{patient.ID(), provider.ID()}, devs...) {
		var m Member
		c.mustQuery("member/"+id.Hex(), &m)
		if m.Cluster != 2 || m.Home != 1 {
			t.Errorf("member %s in cluster %d, home %d", id, m.Cluster, m.Home)
		}
	}
	// And back: the devices are listed where their patient is.
	c.ok(patient.Signing, &Migrate{Cluster: 1, Devices: devs})
	c.mustQuery("cluster/1", &one)
	if !slices.Contains(one.Requestees, patient.ID()) {
		t.Errorf("the patient did not come back: %v", one.Requestees)
	}
}

func TestMigrateRejects(t *testing.T) {
	t.Parallel()
	c := newTestChain(t, 2)
	patient := c.register(identity.RolePatient, nil)
	dev := c.register(identity.RoleDevice, patient)
	other := c.register(identity.RolePatient, nil)
	otherDev := c.register(identity.RoleDevice, other)
	provider := c.register(identity.RoleProvider, nil)
	standby := c.register(identity.RoleAuthority, nil)
	cloud := c.register(identity.RoleCloud, nil)
	tests := []struct {
		name   string
		signer *identity.Identity
		body   *Migrate
		code   Code
	}{
		{"to its own cluster", patient, &Migrate{Cluster: 1}, CodeDuplicate},
		{"to no cluster", patient, &Migrate{Cluster: 9}, CodeNotFound},
		{"another patient's device", patient, &Migrate{Cluster: 2, Devices: []identity.ID{otherDev.ID()}}, CodeUnauthorized},
		{"a provider moving a device", provider, &Migrate{Cluster: 2, Devices: []identity.ID{dev.ID()}}, CodeUnauthorized},
		{"a device alone", dev, &Migrate{Cluster: 2}, CodeWrongRole},
		{"an authority", standby, &Migrate{Cluster: 2}, CodeWrongRole},
		{"a cloud", cloud, &Migrate{Cluster: 2}, CodeWrongRole},
		{"a head", c.auths[0], &Migrate{Cluster: 2}, CodeWrongRole},
		{"a patient naming itself as device", patient, &Migrate{Cluster: 2, Devices: []identity.ID{patient.ID()}}, CodeUnauthorized},
		{"an unknown device", patient, &Migrate{Cluster: 2, Devices: []identity.ID{{7}}}, CodeNotFound},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c.fails(tc.signer.Signing, tc.body, tc.code)
		})
	}
	// Nothing moved.
	var m Member
	c.mustQuery("member/"+patient.ID().Hex(), &m)
	if m.Cluster != 1 {
		t.Fatalf("patient in cluster %d", m.Cluster)
	}
}

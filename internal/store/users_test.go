package store_test

import (
	"context"
	"maps"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/bulkprov/bulkprov/internal/pbx"
	"github.com/bulkprov/bulkprov/internal/secrets"
	"github.com/bulkprov/bulkprov/internal/store"
)

// TestReadUsersBack writes rows with WriteRows (new and update) and reads
// them back with ListUsers, GetUser and DIDRoute, against DynamoDB Local.
func TestReadUsersBack(t *testing.T) {
	f := newUsersFixture(t)
	t.Run("list, one page and many", func(t *testing.T) { testListUsers(t, f) })
	t.Run("get", func(t *testing.T) { testGetUser(t, f) })
	t.Run("one EXT# item per user holds every PBX object", func(t *testing.T) { testOneItemPerUser(t, f) })
	t.Run("by SIP user, directory, mailbox", func(t *testing.T) { testUserLookups(t, f) })
	t.Run("DID routes follow an update", func(t *testing.T) { testDIDRoutesFollowUpdate(t, f) })
}

// usersFixture is what TestReadUsersBack's subtests share.
type usersFixture struct {
	ctx      context.Context
	st       *store.Store
	box      *secrets.Box
	settings pbx.Settings
	write    func(t *testing.T, tenant, job string, update bool, rows ...pbx.UserRow)
	want     []store.UserRecord
}

func newUsersFixture(t *testing.T) *usersFixture {
	t.Helper()
	ctx := context.Background()
	st := store.New(stack.Clients.DynamoDB, stack.Table)
	box := secrets.NewBox(stack.Clients.KMS, stack.KMSKeyID)
	settings := pbx.SystemDefaults()
	settings.Provisioning.Enabled, settings.Provisioning.Registrar, settings.Provisioning.DefaultPhoneModel = true, "sip.example", "yealink-t54w"
	// The operator's inventory: numbers come from it (create-dids claims free ones).
	if _, _, err := st.AddDIDs(ctx, []string{"+14155553100", "+14155553111", "+14155553112"}, ""); err != nil {
		t.Fatal(err)
	}

	write := func(t *testing.T, tenant, job string, update bool, rows ...pbx.UserRow) {
		t.Helper()
		sealer, err := box.Sealer(ctx, tenant)
		if err != nil {
			t.Fatal(err)
		}
		var ws []store.RowWrite
		for _, row := range rows {
			o, err := pbx.Build(tenant, settings, row)
			if err != nil {
				t.Fatal(err)
			}
			w := store.RowWrite{Line: row.Line, Objects: o, Update: update, CreateDIDs: true}
			if !update {
				sip := o.Endpoint.SIPUser
				c := pbx.Credentials{SIPUser: sip, Extension: row.Extension, PortalKind: pbx.WelcomeInvite}
				c.SIPSecret, _ = sealer.Seal([]byte("sip-"+sip), pbx.SIPSecretBinding(sip))
				c.PIN, _ = sealer.Seal([]byte("pin-"+sip), pbx.PINBinding(sip))
				w.Credentials = c
			}
			ws = append(ws, w)
		}
		out, _, err := st.WriteRows(ctx, tenant, ws, store.WriteOptions{Job: job})
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range out {
			if o.Err != nil {
				t.Fatalf("line %d: %v", o.Line, o.Err)
			}
		}
	}

	write(t, "users", "j1", false,
		pbx.UserRow{Line: 2, Extension: "100", FirstName: "Ada", LastName: "Lovelace", Email: "ada@example.com",
			Mobile: "+14155550199", Department: "Eng", DID: "+14155553100", MAC: "0015651c0001", PhoneModel: "polycom-vvx450"},
		pbx.UserRow{Line: 3, Extension: "9", FirstName: "Bob"},
		pbx.UserRow{Line: 4, Extension: "10", LastName: "Front", CallerID: "Reception <+14155553000>"},
		pbx.UserRow{Line: 5, Extension: "0100", FirstName: "Zero", CallerID: "+14155553001"},
		pbx.UserRow{Line: 6, Extension: "11", FirstName: "Moves", DID: "+14155553111", MAC: "0015651c0011"},
	)
	write(t, "others", "j9", false, pbx.UserRow{Line: 2, Extension: "100", FirstName: "Not", LastName: "Mine"})
	write(t, "users", "j2", true, pbx.UserRow{Line: 2, Extension: "11", FirstName: "Moved", DID: "+14155553112", MAC: "0015651c0012"})

	// "0100" and "100" are the same number; the text orders them.
	want := []store.UserRecord{
		{Extension: "9", SIPUser: "9-users", FirstName: "Bob", Voicemail: true, JobID: "j1", CreatedBy: "j1",
			CallerIDName: "Bob", CallerIDNum: "9"},
		{Extension: "10", SIPUser: "10-users", LastName: "Front", CallerID: "Reception <+14155553000>", Voicemail: true,
			JobID: "j1", CreatedBy: "j1", CallerIDName: "Reception", CallerIDNum: "+14155553000"},
		{Extension: "11", SIPUser: "11-users", FirstName: "Moved", DID: "+14155553112", MAC: "0015651c0012",
			PhoneModel: "yealink-t54w", Voicemail: true, JobID: "j2", CreatedBy: "j1", CallerIDName: "Moved", CallerIDNum: "11"},
		{Extension: "0100", SIPUser: "0100-users", FirstName: "Zero", CallerID: "+14155553001", Voicemail: true,
			JobID: "j1", CreatedBy: "j1", CallerIDName: "Zero", CallerIDNum: "+14155553001"},
		{Extension: "100", SIPUser: "100-users", FirstName: "Ada", LastName: "Lovelace", Email: "ada@example.com",
			Mobile: "+14155550199", Department: "Eng", DID: "+14155553100", MAC: "0015651c0001", PhoneModel: "polycom-vvx450",
			Voicemail: true, JobID: "j1", CreatedBy: "j1", CallerIDName: "Ada Lovelace", CallerIDNum: "100"},
	}

	return &usersFixture{ctx: ctx, st: st, box: box, settings: settings, write: write, want: want}
}

// testListUsers: list, one page and many.
func testListUsers(t *testing.T, f *usersFixture) {
	ctx, st, want := f.ctx, f.st, f.want
	paged := store.New(stack.Clients.DynamoDB, stack.Table)
	store.SetQueryPageLimit(paged, 2)
	for name, s := range map[string]*store.Store{"1 MB pages": st, "2 items per page": paged} {
		got, err := s.ListUsers(ctx, "users")
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got, want) {
			t.Errorf("%s: ListUsers =\n%+v\nwant\n%+v", name, got, want)
		}
	}
	if got, err := st.ListUsers(ctx, "nobody"); err != nil || len(got) != 0 {
		t.Errorf("ListUsers of an empty tenant = %v, %v", got, err)
	}
	if _, err := st.ListUsers(ctx, "Bad-Tenant"); pbx.ErrorCode(err) != pbx.EINVALID {
		t.Errorf("ListUsers of an invalid tenant: err = %v", err)
	}
}

// testGetUser: get.
func testGetUser(t *testing.T, f *usersFixture) {
	ctx, st, want := f.ctx, f.st, f.want
	for _, w := range want {
		got, ok, err := st.GetUser(ctx, "users", w.Extension)
		if err != nil || !ok || got != w {
			t.Errorf("GetUser(%s) = %+v, %v, %v; want %+v", w.Extension, got, ok, err, w)
		}
	}
	if _, ok, err := st.GetUser(ctx, "users", "12"); ok || err != nil {
		t.Errorf("GetUser of a missing extension: ok %v, err %v", ok, err)
	}
	if got, ok, err := st.GetUser(ctx, "others", "100"); !ok || err != nil || got.FirstName != "Not" {
		t.Errorf("GetUser of the other tenant = %+v, %v, %v", got, ok, err)
	}
	if _, _, err := st.GetUser(ctx, "users", "1x"); pbx.ErrorCode(err) != pbx.EINVALID {
		t.Errorf("GetUser of an invalid extension: err = %v", err)
	}
}

// testOneItemPerUser: one EXT# item per user holds every PBX object.
func testOneItemPerUser(t *testing.T, f *usersFixture) {
	ctx := f.ctx
	out, err := stack.Clients.DynamoDB.Query(ctx, &dynamodb.QueryInput{TableName: aws.String(stack.Table),
		KeyConditionExpression:    aws.String("PK = :pk"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":pk": &types.AttributeValueMemberS{Value: store.TenantPK("users")}}})
	if err != nil {
		t.Fatal(err)
	}
	kinds := map[string]int{}
	for _, it := range out.Items {
		sk := it[store.AttrSK].(*types.AttributeValueMemberS).Value
		kind, _, _ := strings.Cut(sk, "#")
		kinds[kind]++
		if kind == "EXT" {
			for _, group := range []string{"User", "Ext", "Mailbox", "Endpoint", "Contact"} {
				if _, ok := it[group].(*types.AttributeValueMemberM); !ok {
					t.Errorf("%s has no %s group: %v", sk, group, it[group])
				}
			}
			if n := store.ItemSize(it); n > 1024 {
				t.Errorf("%s is %d bytes, over the 1 KB a write unit covers", sk, n)
			}
		}
	}
	// 5 users: 5 EXT#, 5 SECRET#; DIDs live in their global owner items.
	if want := map[string]int{"EXT": 5, "SECRET": 5}; !maps.Equal(kinds, want) {
		t.Errorf("items by kind = %v, want %v", kinds, want)
	}
}

// testUserLookups: by SIP user, directory, mailbox.
func testUserLookups(t *testing.T, f *usersFixture) {
	ctx, st, settings, want := f.ctx, f.st, f.settings, f.want
	got, ok, err := st.GetUserBySIPUser(ctx, "users", "0100-users")
	if err != nil || !ok || got != want[3] {
		t.Errorf("GetUserBySIPUser(0100-users) = %+v, %v, %v", got, ok, err)
	}
	for _, bad := range []string{"100-others", "100", "x-users", "-users"} {
		if _, _, err := st.GetUserBySIPUser(ctx, "users", bad); pbx.ErrorCode(err) != pbx.EINVALID {
			t.Errorf("GetUserBySIPUser(%s): err = %v, want EINVALID", bad, err)
		}
	}
	dir, err := st.Directory(ctx, "users")
	if err != nil {
		t.Fatal(err)
	}
	var exts []string
	for _, c := range dir {
		exts = append(exts, c.Extension)
	}
	if !slices.Equal(exts, []string{"9", "10", "11", "0100", "100"}) || dir[4] != (pbx.DirectoryContact{Tenant: "users",
		Extension: "100", FirstName: "Ada", LastName: "Lovelace", Email: "ada@example.com", Department: "Eng"}) {
		t.Errorf("Directory = %+v", dir)
	}
	mb, ok, err := st.GetMailbox(ctx, "users", "100")
	if err != nil || !ok || mb != (pbx.Mailbox{Tenant: "users", Number: "100", Owner: "Ada Lovelace", Email: "ada@example.com", Pager: "+14155550199"}) {
		t.Errorf("GetMailbox(100) = %+v, %v, %v", mb, ok, err)
	}
	if _, ok, err := st.GetMailbox(ctx, "users", "12"); ok || err != nil {
		t.Errorf("GetMailbox of a missing extension: ok %v, err %v", ok, err)
	}
	// The stored objects are the ones pbx.Build made, secrets hashed.
	objs, ok, err := st.GetUserObjects(ctx, "users", "100")
	if err != nil || !ok {
		t.Fatal(ok, err)
	}
	built, _ := pbx.Build("users", settings, pbx.UserRow{Line: 2, Extension: "100", FirstName: "Ada", LastName: "Lovelace", Email: "ada@example.com",
		Mobile: "+14155550199", Department: "Eng", DID: "+14155553100", MAC: "0015651c0001", PhoneModel: "polycom-vvx450"})
	built.Warnings = nil
	if !reflect.DeepEqual(objs.RowObjects, built) {
		t.Errorf("stored objects =\n%+v\nbuilt\n%+v", objs.RowObjects, built)
	}
}

// testDIDRoutesFollowUpdate: DID routes follow an update.
func testDIDRoutesFollowUpdate(t *testing.T, f *usersFixture) {
	ctx, st := f.ctx, f.st
	for did, wantExt := range map[string]string{"+14155553100": "100", "+14155553112": "11", "+14155553111": "", "+14155559999": ""} {
		ext, ok, err := st.DIDRoute(ctx, "users", did)
		if err != nil || ext != wantExt || ok != (wantExt != "") {
			t.Errorf("DIDRoute(%s) = %q, %v, %v; want %q", did, ext, ok, err, wantExt)
		}
	}
	if _, ok, err := st.DIDRoute(ctx, "others", "+14155553100"); ok || err != nil {
		t.Errorf("another tenant's DID routes: ok %v, err %v", ok, err)
	}
}

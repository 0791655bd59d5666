package store

import (
	"bytes"
	"reflect"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/bulkprov/bulkprov/internal/pbx"
	"github.com/bulkprov/bulkprov/internal/secrets"
)

func TestCredentialsItemRoundTrip(t *testing.T) {
	sealed := func(key, b byte) secrets.Sealed {
		return secrets.Sealed{Key: []byte{key, 1}, Nonce: []byte{b, 2}, Data: []byte{b, 3}}
	}
	portal, otherKey := sealed(7, 3), sealed(8, 3)
	for _, tc := range []struct {
		name string
		c    pbx.Credentials
		// keyed lists the values that keep their own k (not sealed under the shared Key)
		keyed []string
	}{
		{"one data key", pbx.Credentials{SIPUser: "100-acme", Extension: "100", SIPSecret: sealed(7, 1), PIN: sealed(7, 2), Portal: &portal,
			PortalKind: pbx.WelcomeInvite, InviteExpires: 1893553445}, nil},
		{"portal under another key", pbx.Credentials{SIPUser: "102-acme", Extension: "102", SIPSecret: sealed(7, 1), PIN: sealed(7, 2), Portal: &otherKey,
			PortalKind: pbx.WelcomeInvite, InviteExpires: 1893553445}, []string{"Portal"}},
		{"portal dropped", pbx.Credentials{SIPUser: "101-acme", Extension: "101", SIPSecret: sealed(7, 1), PIN: sealed(7, 2), PortalKind: pbx.WelcomePassword}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			item := credentialsItem("acme", tc.c)
			if stringAttr(item, AttrPK) != "TENANT#acme" || stringAttr(item, AttrSK) != "SECRET#"+tc.c.SIPUser {
				t.Fatalf("key = %s/%s", stringAttr(item, AttrPK), stringAttr(item, AttrSK))
			}
			if k, ok := item["Key"].(*types.AttributeValueMemberB); !ok || !bytes.Equal(k.Value, tc.c.SIPSecret.Key) {
				t.Fatalf("shared Key = %v", item["Key"])
			}
			for _, name := range []string{"SIPSecret", "PIN", "Portal"} {
				v, ok := item[name].(*types.AttributeValueMemberM)
				if !ok {
					continue
				}
				_, hasKey := v.Value["k"]
				if want := slices.Contains(tc.keyed, name); hasKey != want {
					t.Errorf("%s carries its own key = %v, want %v", name, hasKey, want)
				}
			}
			if _, has := item["Portal"]; has != (tc.c.Portal != nil) {
				t.Fatalf("Portal attribute present = %v", has)
			}
			if _, has := item["InviteExpires"]; has != (tc.c.InviteExpires != 0) {
				t.Fatalf("InviteExpires attribute present = %v", has)
			}
			got, err := credentialsFromItem(item)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.c) {
				t.Fatalf("round trip = %+v, want %+v", got, tc.c)
			}
		})
	}
}

// TestCredentialsItemWithAKeyInEveryValue: items written before the shared
// Key still decode.
func TestCredentialsItemWithAKeyInEveryValue(t *testing.T) {
	value := func(b byte) types.AttributeValue {
		return &types.AttributeValueMemberM{Value: map[string]types.AttributeValue{
			"k": &types.AttributeValueMemberB{Value: []byte{b, 1}},
			"n": &types.AttributeValueMemberB{Value: []byte{b, 2}},
			"d": &types.AttributeValueMemberB{Value: []byte{b, 3}},
		}}
	}
	item := map[string]types.AttributeValue{
		AttrPK: &types.AttributeValueMemberS{Value: "TENANT#acme"}, AttrSK: &types.AttributeValueMemberS{Value: "SECRET#100-acme"},
		"SIPUser": &types.AttributeValueMemberS{Value: "100-acme"}, "Extension": &types.AttributeValueMemberS{Value: "100"},
		"PortalKind": &types.AttributeValueMemberS{Value: "invite"}, "Job": &types.AttributeValueMemberS{Value: "j"},
		"SIPSecret": value(1), "PIN": value(2), "Portal": value(3),
	}
	got, err := credentialsFromItem(item)
	if err != nil {
		t.Fatal(err)
	}
	want := pbx.Credentials{SIPUser: "100-acme", Extension: "100", PortalKind: pbx.WelcomeInvite,
		SIPSecret: secrets.Sealed{Key: []byte{1, 1}, Nonce: []byte{1, 2}, Data: []byte{1, 3}},
		PIN:       secrets.Sealed{Key: []byte{2, 1}, Nonce: []byte{2, 2}, Data: []byte{2, 3}},
		Portal:    &secrets.Sealed{Key: []byte{3, 1}, Nonce: []byte{3, 2}, Data: []byte{3, 3}}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("decoded %+v, want %+v", got, want)
	}
	item["PIN"] = &types.AttributeValueMemberS{Value: "plain"}
	if _, err := credentialsFromItem(item); err == nil {
		t.Fatal("a PIN that is not a sealed map decoded")
	}
}

// TestSecretItemFitsOneKB: with a real KMS data-key blob (~184 bytes), the
// longest SIP user, and a reserved welcome ledger entry, the SECRET item
// stays within 1 KB, so every write to it (create, reserve, finish) is
// billed as one KB.
func TestSecretItemFitsOneKB(t *testing.T) {
	kmsBlob := bytes.Repeat([]byte{1}, 184)
	seal := func(plaintextLen int) secrets.Sealed {
		return secrets.Sealed{Key: kmsBlob, Nonce: make([]byte, 12), Data: make([]byte, plaintextLen+16)}
	}
	tenant := "abcdefghijklmnopqrstuvwxyz012345" // 32 characters, the longest
	ext := "1234567890"
	sip := ext + "-" + tenant
	portal := seal(43) // base64url of a 256-bit invite token
	c := pbx.Credentials{SIPUser: sip, Extension: ext, SIPSecret: seal(24), PIN: seal(12), Portal: &portal,
		PortalKind: pbx.WelcomeInvite, InviteExpires: time.Now().Unix()}
	item := credentialsItem(tenant, c)
	item["Job"] = &types.AttributeValueMemberS{Value: "0123456789abcdef0123456789abcdef"}
	at := time.Now().UTC().Format(time.RFC3339Nano)
	for field, v := range map[string]types.AttributeValue{
		ledgerStatus:  &types.AttributeValueMemberS{Value: LedgerReserved},
		ledgerAttempt: &types.AttributeValueMemberS{Value: "0123456789abcdef01234567"},
		ledgerUser:    &types.AttributeValueMemberS{Value: tenant + "-" + ext},
		ledgerJob:     &types.AttributeValueMemberS{Value: "0123456789abcdef0123456789abcdef"},
		ledgerLine:    &types.AttributeValueMemberN{Value: strconv.Itoa(1_000_000)},
		ledgerAt:      &types.AttributeValueMemberS{Value: at},
	} {
		item[ledgerAttr("welcome", field)] = v
	}
	n := ItemSize(item)
	if n > 1024 {
		t.Errorf("reserved SECRET item is %d bytes, over 1 KB", n)
	}
	t.Logf("reserved SECRET item: %d bytes (a data key in every value would add %d)", n, 2*len(kmsBlob)+2)
}

package store

import (
	"reflect"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/bulkprov/bulkprov/internal/pbx"
	"github.com/bulkprov/bulkprov/internal/secrets"
)

func TestCredentialsItemRoundTrip(t *testing.T) {
	sealed := func(b byte) secrets.Sealed {
		return secrets.Sealed{Key: []byte{b, 1}, Nonce: []byte{b, 2}, Data: []byte{b, 3}}
	}
	portal := sealed(3)
	for name, c := range map[string]Credentials{
		"with portal":    {SIPUser: "100-acme", Extension: "100", SIPSecret: sealed(1), PIN: sealed(2), Portal: &portal, PortalKind: pbx.WelcomeInvite},
		"portal dropped": {SIPUser: "101-acme", Extension: "101", SIPSecret: sealed(1), PIN: sealed(2), PortalKind: pbx.WelcomePassword},
	} {
		t.Run(name, func(t *testing.T) {
			item, err := credentialsItem("acme", c)
			if err != nil {
				t.Fatal(err)
			}
			if stringAttr(item, AttrPK) != "TENANT#acme" || stringAttr(item, AttrSK) != "SECRET#"+c.SIPUser {
				t.Fatalf("key = %s/%s", stringAttr(item, AttrPK), stringAttr(item, AttrSK))
			}
			if _, ok := item["SIPSecret"].(*types.AttributeValueMemberM).Value["k"].(*types.AttributeValueMemberB); !ok {
				t.Fatal("sealed values are not maps of binary attributes")
			}
			if _, has := item["Portal"]; has != (c.Portal != nil) {
				t.Fatalf("Portal attribute present = %v", has)
			}
			got, err := credentialsFromItem(item)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, c) {
				t.Fatalf("round trip = %+v, want %+v", got, c)
			}
		})
	}
}

package virtualcalendar_test

import (
	"context"
	"strings"
	"testing"

	"github.com/grantd/grantd/internal/provider"
	"github.com/grantd/grantd/internal/provider/providertest"
	"github.com/grantd/grantd/internal/provider/virtualcalendar"
)

func TestValidate(t *testing.T) {
	p := virtualcalendar.New()
	for _, id := range []string{"room-42", "  Board Room (3rd floor)  ", "ada@example.com", "会議室"} {
		res, err := p.Validate(context.Background(), provider.Request{Settings: map[string]any{"email": id}, Scope: []string{"ignored"}})
		if err != nil {
			t.Fatalf("%q: %v", id, err)
		}
		want := strings.TrimSpace(id)
		if res.Email != want || len(res.Scope) != 1 || res.Scope[0] != "calendar" || len(res.Secrets) != 0 || res.Settings["email"] != want {
			t.Errorf("%q: %+v", id, res)
		}
	}
	for _, tc := range []struct {
		settings map[string]any
		want     string
	}{
		{map[string]any{}, "settings.email is required"},
		{map[string]any{"email": "  "}, "settings.email is empty"},
		{map[string]any{"email": 5}, "must be a string"},
		{map[string]any{"email": strings.Repeat("x", 257)}, "at most 256"},
		{map[string]any{"email": "a\nb"}, "printable"},
	} {
		_, err := p.Validate(context.Background(), provider.Request{Settings: tc.settings})
		pe := providertest.Class(t, err, provider.ClassBadRequest)
		if !strings.Contains(pe.Message, tc.want) {
			t.Errorf("%v: %q lacks %q", tc.settings, pe.Message, tc.want)
		}
	}
}

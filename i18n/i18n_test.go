package i18n

import (
	"context"
	"testing"
)

func TestNegotiate(t *testing.T) {
	for _, c := range []struct {
		chosen, header string
		want           Lang
	}{
		{"", "zh-TW,zh;q=0.9", TraditionalChinese},
		{"", "zh-Hant", TraditionalChinese},
		{"", "zh-HK", TraditionalChinese},
		{"", "zh-MO", TraditionalChinese},
		{"", "fr, zh-TW;q=0.5", TraditionalChinese},
		{"", "zh-CN", English},
		{"", "zh", English},
		{"", "zh-SG", English},
		{"", "en-US", English},
		{"", "ja", English},
		{"", "", English},
		{"", "not a header;;;", English},
		{"en", "zh-TW", English},
		{"zh-TW", "en-US", TraditionalChinese},
		{"xx", "zh-TW", TraditionalChinese},
	} {
		if got := Negotiate(c.chosen, c.header); got != c.want {
			t.Errorf("Negotiate(%q, %q) = %q, want %q", c.chosen, c.header, got, c.want)
		}
	}
}

func TestPrinter(t *testing.T) {
	c := Default()
	zh := WithPrinter(context.Background(), c.Printer(TraditionalChinese))
	if got := T(zh, "error.not_found"); got != "找不到頁面" {
		t.Errorf("zh not_found = %q", got)
	}
	if got := T(context.Background(), "error.not_found"); got != "Not found" {
		t.Errorf("default not_found = %q", got)
	}
	if got := T(zh, "page.title_of", "Title", "x"); got != "x－聊天" {
		t.Errorf("zh title_of = %q", got)
	}
	if got := T(zh, "no.such.id"); got != "no.such.id" {
		t.Errorf("missing id = %q", got)
	}
}

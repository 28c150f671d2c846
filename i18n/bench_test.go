package i18n

import "testing"

// BenchmarkT fills a sentence with five names, as a message's full date
// does once per message rendered.
func BenchmarkT(b *testing.B) {
	p := Default().Printer(TraditionalChinese)
	b.ReportAllocs()
	for b.Loop() {
		p.T("room.date.full", "Weekday", "星期日", "Day", "6", "Month", "12月", "Year", "2026", "Time", "09:05:07")
	}
}

// BenchmarkTPlain is a sentence without names.
func BenchmarkTPlain(b *testing.B) {
	p := Default().Printer(TraditionalChinese)
	b.ReportAllocs()
	for b.Loop() {
		p.T("room.message.reply")
	}
}

// BenchmarkTName is a sentence with one name, as "Your rooms" says one
// per room.
func BenchmarkTName(b *testing.B) {
	p := Default().Printer(English)
	b.ReportAllocs()
	for b.Loop() {
		p.T("reading.level_label", "Room", "general")
	}
}

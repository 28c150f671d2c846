package handlers

import (
	"context"
	"errors"
	"unicode/utf8"

	"github.com/chatrun/chat/i18n"
	"github.com/chatrun/chat/realtime"
)

// Limits from docs/SPEC.md; those of rooms, names and text are realtime's.
const (
	maxText     = realtime.MaxText
	maxNonce    = 64
	maxFrame    = 16 << 10 // a frame over it is refused; the socket stays open
	maxDiscard  = 1 << 20  // a frame over it closes the socket with 1009
	maxFormBody = 64 << 10
)

// The rules are realtime's (ParseName, ParseRoom, ParseText); each
// validator here returns the parsed value, or the sentence that tells a
// person what is wrong.

// refusal is the sentence a person reads for one of realtime's refusals
// ("" for nil), in the language of ctx.
func refusal(ctx context.Context, err error) string {
	switch {
	case err == nil:
		return ""
	case errors.Is(err, realtime.ErrNameNotText):
		return i18n.T(ctx, "refusal.name_not_text")
	case errors.Is(err, realtime.ErrNameControl):
		return i18n.T(ctx, "refusal.name_control")
	case errors.Is(err, realtime.ErrNameEmpty):
		return i18n.T(ctx, "refusal.name_empty")
	case errors.Is(err, realtime.ErrNameTooLong):
		return i18n.T(ctx, "refusal.name_too_long")
	case errors.Is(err, realtime.ErrNameInvisible):
		return i18n.T(ctx, "refusal.name_invisible")
	case errors.Is(err, realtime.ErrNameUnseen):
		return i18n.T(ctx, "refusal.name_unseen")
	case errors.Is(err, realtime.ErrRoomEmpty):
		return i18n.T(ctx, "refusal.room_empty")
	case errors.Is(err, realtime.ErrRoomTooLong):
		return i18n.T(ctx, "refusal.room_too_long")
	case errors.Is(err, realtime.ErrRoomAlphabet):
		return i18n.T(ctx, "refusal.room_alphabet")
	case errors.Is(err, realtime.ErrRoomReserved):
		return i18n.T(ctx, "refusal.room_reserved")
	case errors.Is(err, realtime.ErrTextNotText):
		return i18n.T(ctx, "refusal.text_not_text")
	case errors.Is(err, realtime.ErrTextEmpty):
		return i18n.T(ctx, "refusal.text_empty")
	case errors.Is(err, realtime.ErrTextTooLong):
		return i18n.T(ctx, "refusal.text_too_long")
	case errors.Is(err, realtime.ErrTextControl):
		return i18n.T(ctx, "refusal.text_control")
	case errors.Is(err, realtime.ErrTextTooTall):
		return i18n.T(ctx, "refusal.text_too_tall")
	case errors.Is(err, realtime.ErrInvalidEmoji):
		return i18n.T(ctx, "refusal.invalid_emoji")
	case errors.Is(err, realtime.ErrTooManyReactions):
		return i18n.T(ctx, "refusal.too_many_reactions")
	}
	return i18n.T(ctx, "refusal.not_allowed")
}

func validateName(ctx context.Context, s string) (string, string) {
	name, err := realtime.ParseName(s)
	return name, refusal(ctx, err)
}

func validateRoom(ctx context.Context, s string) (string, string) {
	room, err := realtime.ParseRoom(s)
	return room, refusal(ctx, err)
}

func validateNonce(ctx context.Context, s string) string {
	if !utf8.ValidString(s) || utf8.RuneCountInString(s) > maxNonce {
		return i18n.T(ctx, "refusal.form_expired")
	}
	return ""
}

package handlers

import (
	"errors"
	"unicode/utf8"

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
// ("" for nil).
func refusal(err error) string {
	switch {
	case err == nil:
		return ""
	case errors.Is(err, realtime.ErrNameNotText):
		return "Your name has characters that are not text."
	case errors.Is(err, realtime.ErrNameControl):
		return "Names cannot contain control characters."
	case errors.Is(err, realtime.ErrNameEmpty):
		return "Please give a name."
	case errors.Is(err, realtime.ErrNameTooLong):
		return "Names are at most 32 characters."
	case errors.Is(err, realtime.ErrNameInvisible):
		return "Names cannot contain invisible characters."
	case errors.Is(err, realtime.ErrNameUnseen):
		return "Please give a name with letters or signs that can be seen."
	case errors.Is(err, realtime.ErrRoomEmpty):
		return "Please give a room."
	case errors.Is(err, realtime.ErrRoomTooLong):
		return "Room names are at most 64 characters."
	case errors.Is(err, realtime.ErrRoomAlphabet):
		return "Room names use only letters a to z, digits, - and _."
	case errors.Is(err, realtime.ErrRoomReserved):
		return "Room names cannot start and end with __."
	case errors.Is(err, realtime.ErrTextNotText):
		return "Your message has characters that are not text."
	case errors.Is(err, realtime.ErrTextEmpty):
		return "Type a message first."
	case errors.Is(err, realtime.ErrTextTooLong):
		return "Messages are at most 2,000 characters."
	case errors.Is(err, realtime.ErrTextControl):
		return "Messages cannot contain control characters."
	case errors.Is(err, realtime.ErrTextTooTall):
		return "Messages are at most 40 lines."
	case errors.Is(err, realtime.ErrInvalidEmoji):
		return "A reaction is one emoji, such as 👍: not text, not several emoji."
	case errors.Is(err, realtime.ErrTooManyReactions):
		return "You have given this message 20 different reactions: take one back first."
	}
	return "That is not allowed here."
}

func validateName(s string) (string, string) {
	name, err := realtime.ParseName(s)
	return name, refusal(err)
}

func validateRoom(s string) (string, string) {
	room, err := realtime.ParseRoom(s)
	return room, refusal(err)
}

func validateNonce(s string) string {
	if !utf8.ValidString(s) || utf8.RuneCountInString(s) > maxNonce {
		return "This form has expired: reload the page and send again."
	}
	return ""
}

// @-name completion in the message box (docs/SPEC.md): see issue 29.
'use strict';

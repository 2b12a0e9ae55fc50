/**
 * A key as a reader of the log sees it, in ASCII: a key spelt with look-alike letters
 * (fullwidth `ｐａｓｓｗｏｒｄ`, a Cyrillic `а` in `pаssword`, `pass\u200bword`) reads as a
 * credential to a person and to the program that uses it, so the credential rule must read
 * it so too. Compatibility forms (fullwidth, superscript, mathematical and circled letters,
 * ligatures) fold by NFKD; accents and invisible characters (combining marks, zero-width
 * spaces, soft hyphens, bidi controls) are dropped; Cyrillic, Greek, Armenian and IPA
 * letters drawn like Latin ones map to them (a subset of Unicode's confusables, UTS #39
 * §4, limited to letters that imitate the Latin alphabet). Keys in ASCII, nearly all of
 * them, are returned as they are.
 */
export function foldLookAlikes(key: string): string {
  if (!NOT_ASCII.test(key)) return key;
  let folded = '';
  for (const char of key.normalize('NFKD').replace(INVISIBLE, '')) folded += LATIN_LOOK_ALIKES.get(char) ?? char;
  return folded;
}

const NOT_ASCII = /[\u0080-\uffff]/;
const INVISIBLE = /[\p{Mn}\p{Me}\p{Cf}]/gu;

/** Each letter of the first string stands for the Latin letter at the same place in the second. */
const LOOK_ALIKE_LETTERS = 'аеіјкорсѕухһԁԛԝӏвтмнАВЕІЈКМНОРСЅТХҮԚԜӀαικνορυχΑΒΕΖΗΙΚΜΝΟΡΤΥΧօսոıȷɑɡɩᴀʙᴄᴅᴇɢʜɪᴊᴋʟᴍɴᴏᴘʀꜱᴛᴜᴠᴡʏᴢ';
const LATIN_LETTERS = 'aeijkopcsyxhdqwlbtmhABEIJKMHOPCSTXYQWIaikvopuxABEZHIKMNOPTYXounijagiabcdeghijklmnoprstuvwyz';
const LATIN_LOOK_ALIKES: ReadonlyMap<string, string> = new Map([...LOOK_ALIKE_LETTERS].map((char, i) => [char, LATIN_LETTERS[i]!]));

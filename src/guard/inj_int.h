/* Internal to the prompt-injection detector (src/guard/injection.c, inj_lexicon.c).
 *
 * The detector works on WORDS, not on bytes: text is folded (ASCII lower case, accents
 * removed, full-width and mathematical letters and Cyrillic/Greek look-alikes mapped to
 * ASCII, invisible characters dropped inside words) and cut into words. Each word is
 * looked up in a lexicon that gives it a set of word classes (C_IGN for "ignore",
 * "vergiss", "oublie" ...), and fixed phrases of up to five words ("from now on", "prompt
 * del sistema") add classes to their last word. Rules are short sequences of classes with
 * a bounded number of other words between them ("ignore" <=4 "previous" <=3
 * "instructions"); a rule that completes is a hit of its signal with a base strength. The
 * same rules run over a second view of the words, their rot13 decoding. This keeps the
 * languages in data (inj_lexicon.c) and makes paraphrases with extra words ("ignore
 * simply all of the previous instructions") match without enumerating them. */
#ifndef SG_GUARD_INJ_INT_H
#define SG_GUARD_INJ_INT_H

#include <stddef.h>
#include <stdint.h>

#include "guard/injection.h"

/* Word classes: bits of a uint64_t. The last bits are per-word flags set by the scanner,
 * which rule elements can require. */
enum inj_class {
    C_IGN,        /* ignore, disregard, bypass, vergiss, oublie, olvida, dimentica, negeer */
    C_FORGET,     /* forget (for "forget everything") */
    C_PRIOR,      /* previous, prior, earlier, original, vorherigen, précédentes ... */
    C_ABOVE,      /* above, so far, oben, ci-dessus, arriba, sopra, hierboven */
    C_ALL,        /* all, any, alle, toutes, todas, tutte */
    C_YOUR,       /* your, deine, tes, tus, tue, je */
    C_YOU,        /* you, du, tu, vous, jij */
    C_INSTR,      /* instructions, guidelines, prompt, Anweisungen, consignes ... */
    C_INSTRW,     /* weaker: rules, policies, restrictions, commands */
    C_SYSPROMPT,  /* system prompt, initial instructions, Systemprompt, prompt système */
    C_SYS,        /* system */
    C_EVERYTHING, /* everything, alles, tout, todo, tutto */
    C_NEW,        /* new, updated, real (instructions) */
    C_STOP,       /* stop, quit, hör auf, arrête, deja de */
    C_FOLLOW,     /* follow, obey, execute, befolge, suis, sigue, segui, volg */
    C_NEG,        /* not, never, nicht, pas, no, non, niet */
    C_DISABLE,    /* disable, turn off, deaktiviere, désactive */
    C_SAFETY,     /* safety, filters, guardrails, censorship, ethics */
    C_USER,       /* user, customer, Kunde, utilisateur, cliente, klant */
    C_REQUEST,    /* request, question, query */
    C_PERSONA,    /* you are now, du bist jetzt, tu es maintenant, ahora eres ... */
    C_FROMNOW,    /* from now on, ab jetzt, désormais, a partir de ahora, d'ora in poi */
    C_PRETEND,    /* pretend, act as, roleplay, fais semblant, finge, doe alsof */
    C_JB,         /* strong jailbreak phrases: do anything now, stay in character */
    C_JBWORD,     /* jailbreak, jailbroken */
    C_DAN,        /* dan (counts in upper case only) */
    C_DEVMODE,    /* developer mode, Entwicklermodus, mode développeur */
    C_ENABLED,    /* enabled, activated, aktiviert, activé */
    C_NOWORD,     /* no, without, ohne, sans, sin, senza, zonder, not bound */
    C_LIMITS,     /* restrictions, limits, filters, rules, censorship */
    C_UNRESTR,    /* unrestricted, unfiltered, uncensored (and no + limits) */
    C_EVIL,       /* evil, malicious, unethical */
    C_REVEAL,     /* repeat, reveal, print, show, wiederhole, répète, repite */
    C_DEF,        /* the, der, le, el, il, de */
    C_TEXT,       /* text, words, content, message */
    C_VERBATIM,   /* verbatim, word for word, wörtlich */
    C_QWHAT,      /* what, which, how, was, quelles, cuáles, quali, wat */
    C_PAST,       /* were, was, waren, étaient, eran, erano */
    C_TOLD,       /* told, instructed, programmed, gesagt, dit, dicho */
    C_AI,         /* AI, assistant, chatbot, LLM, KI, IA, language model */
    C_IF,         /* if, wenn, si, se, als */
    C_TELL,       /* tell, inform, mention, convince */
    C_ANSWER,     /* answer, response, summary */
    C_WHEN,       /* when, while */
    C_SUMM,       /* summarizing, answering, reading, processing */
    C_IN,         /* in, dans, en, nella */
    C_ONLY,       /* only, always, instead */
    C_RESPOND,    /* respond, reply, say, recommend */
    C_ROLE,       /* system, admin, developer, operator (as a label) */
    C_COLON,      /* the ':' token */
    C_IMPORTANT,  /* important, attention, urgent */
    C_DECODE,     /* decode, decipher, decrypt */
    C_ENCODING,   /* base64, rot13, hex, cipher */
    C_SEND,       /* send, forward, upload, append */
    C_PRIV,       /* conversation, history, data, password, credentials */
    C_DEST,       /* url, link, endpoint, webhook, https */
    C_READS,      /* reads, processes (this text) */
    C_PROGRAMMED, /* configured, programmed, instructed */
    C_ABOVELINE,  /* above this line, über dieser Zeile, au-dessus de cette ligne */
    C_VOID,       /* (the instructions) no longer apply, gelten nicht mehr, ne sont plus valables */
    C_NCLASSES,
    F_LINEHEAD = 61, /* among the first words of a line (or of a tag, comment, bracket) */
    F_UPPER = 62,    /* written in capitals (two letters or more) */
};

#define CB(c) (UINT64_C(1) << (c))

/* One lexicon line: classes and the words or phrases that have them, '|'-separated,
 * written as people write them (accents, apostrophes): the builder folds and cuts them
 * with the scanner's own rules, so the lexicon cannot disagree with the scanner. */
struct inj_lex {
    uint64_t classes;
    const char *phrases;
};

/* One element of a rule: a word with ANY of `any` and ALL of `all` (flags), at most
 * `gap` other words after the previous element. */
struct inj_el {
    uint64_t any, all;
    uint8_t gap;
};

#define INJ_RULE_MAX_EL 4
#define INJ_DERIVE 0xff /* rule signal of a derivation rule */

/* A rule: `n` elements in order. A signal rule is a hit of `sig` with `strength`; a
 * derivation rule (sig INJ_DERIVE) adds `derive` to the classes of the word that
 * completes it (derivation rules come first, so later rules see the new classes). */
struct inj_rule {
    uint8_t sig, strength, n;
    uint64_t derive;
    struct inj_el el[INJ_RULE_MAX_EL];
};

#define INJ_MAX_RULES 96

extern const struct inj_lex inj_lexicon[];
extern const size_t inj_nlexicon;
extern const struct inj_rule inj_rules[];
extern const size_t inj_nrules;

/* Source weights in percent, per signal and source. */
extern const uint8_t inj_weight[SG_INJ_NSIGNALS][SG_INJ_SRC_COUNT];

#endif

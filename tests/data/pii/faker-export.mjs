// Exports the locale word lists of the pinned @faker-js/faker package (MIT licence) into one
// JSON file that generate.py reads: first names, last names, salutations, street names and
// street parts, city names and city parts, postcode and building-number formats for the ten
// locales the PII evaluation corpus uses. Faker's locale definitions are partial (en_US
// inherits from en, de_AT from de, ...), so each field is taken from the first locale of the
// fallback chain that defines it. The output is sorted and deduplicated, so the same faker
// version always yields the same file, and generate.py stays deterministic.
//
// Usage: node faker-export.mjs OUT.json   (run in tests/data/pii after `npm ci`)

import { writeFileSync, readFileSync } from 'node:fs';
import { allLocales } from '@faker-js/faker';

const LOCALES = ['en_US', 'en_GB', 'de', 'de_AT', 'de_CH', 'fr', 'nl', 'nl_BE', 'es', 'it'];

function chain(name) {
  const out = [name];
  const base = name.split('_')[0];
  if (base !== name) out.push(base);
  if (!out.includes('en')) out.push('en');
  return out.map((n) => allLocales[n]).filter(Boolean);
}

function pick(defs, section, key) {
  for (const d of defs) {
    const s = d[section];
    if (s && s[key] !== undefined) return s[key];
  }
  return undefined;
}

function uniqSorted(list) {
  return [...new Set((list || []).filter((x) => typeof x === 'string' && x.trim() !== ''))].sort();
}

// Values of a {generic, female, male} record, or a plain array.
function gendered(v) {
  if (!v) return { female: [], male: [], generic: [] };
  if (Array.isArray(v)) return { female: [], male: [], generic: uniqSorted(v) };
  const female = uniqSorted(v.female);
  const male = uniqSorted(v.male);
  const generic = uniqSorted(v.generic || [...female, ...male]);
  return { female, male, generic };
}

const out = { faker_version: null, locales: {} };
try {
  const pkgUrl = new URL('./node_modules/@faker-js/faker/package.json', import.meta.url);
  out.faker_version = JSON.parse(readFileSync(pkgUrl, 'utf8')).version;
} catch {
  out.faker_version = 'unknown';
}

for (const name of LOCALES) {
  if (!allLocales[name]) throw new Error(`faker has no locale ${name}`);
  const defs = chain(name);
  const own = allLocales[name];
  // en is faker's US data, so en_US may inherit its location lists; every other locale
  // uses only its own (the English fallback would put US streets into German addresses).
  const ownLoc = name === 'en_US' ? { ...allLocales.en.location, ...own.location } : own.location || {};
  const first = gendered(pick(defs, 'person', 'first_name'));
  const last = gendered(pick(defs, 'person', 'last_name'));
  out.locales[name] = {
    first_female: first.female.length ? first.female : first.generic,
    first_male: first.male.length ? first.male : first.generic,
    last: last.generic,
    // Missing lists are composed from parts in generate.py.
    street_names: uniqSorted(ownLoc.street_name),
    street_prefix: uniqSorted(ownLoc.street_prefix),
    street_suffix: uniqSorted(ownLoc.street_suffix),
    city_names: uniqSorted(ownLoc.city_name),
    city_prefix: uniqSorted(ownLoc.city_prefix),
    city_suffix: uniqSorted(ownLoc.city_suffix),
    postcode: uniqSorted(
      Array.isArray(ownLoc.postcode) ? ownLoc.postcode : ownLoc.postcode ? [ownLoc.postcode] : [],
    ),
    building_number: uniqSorted(pick(defs, 'location', 'building_number')),
    state_abbr: uniqSorted(ownLoc.state_abbr || pick(defs, 'location', 'state_abbr')),
  };
}

const target = process.argv[2];
if (!target) {
  console.error('usage: node faker-export.mjs OUT.json');
  process.exit(2);
}
writeFileSync(target, JSON.stringify(out, null, 1) + '\n');

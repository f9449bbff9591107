/**
 * The state or region a person is in, by name: the form shows names, the server gets the ISO 3166-2
 * code it expects (`US-CA`, `GB-ENG`; docs/protocol.md "Consent and location"). A code the link
 * pre-fills (`#region=`) that is not listed here is added under its code.
 */
import { t } from './i18n/language.ts';
import { bind, setText } from './i18n/localize.ts';

export interface RegionGroup {
  /** ISO 3166-1 alpha-2: the country's name comes from the catalogue (`country.<code>`). */
  readonly country: 'US' | 'CA' | 'GB' | 'AU';
  readonly regions: readonly (readonly [code: string, name: string])[];
}

const US: readonly (readonly [string, string])[] = ([
  ['AL', 'Alabama'], ['AK', 'Alaska'], ['AZ', 'Arizona'], ['AR', 'Arkansas'], ['CA', 'California'], ['CO', 'Colorado'],
  ['CT', 'Connecticut'], ['DE', 'Delaware'], ['DC', 'District of Columbia'], ['FL', 'Florida'], ['GA', 'Georgia'], ['HI', 'Hawaii'],
  ['ID', 'Idaho'], ['IL', 'Illinois'], ['IN', 'Indiana'], ['IA', 'Iowa'], ['KS', 'Kansas'], ['KY', 'Kentucky'], ['LA', 'Louisiana'],
  ['ME', 'Maine'], ['MD', 'Maryland'], ['MA', 'Massachusetts'], ['MI', 'Michigan'], ['MN', 'Minnesota'], ['MS', 'Mississippi'],
  ['MO', 'Missouri'], ['MT', 'Montana'], ['NE', 'Nebraska'], ['NV', 'Nevada'], ['NH', 'New Hampshire'], ['NJ', 'New Jersey'],
  ['NM', 'New Mexico'], ['NY', 'New York'], ['NC', 'North Carolina'], ['ND', 'North Dakota'], ['OH', 'Ohio'], ['OK', 'Oklahoma'],
  ['OR', 'Oregon'], ['PA', 'Pennsylvania'], ['RI', 'Rhode Island'], ['SC', 'South Carolina'], ['SD', 'South Dakota'],
  ['TN', 'Tennessee'], ['TX', 'Texas'], ['UT', 'Utah'], ['VT', 'Vermont'], ['VA', 'Virginia'], ['WA', 'Washington'],
  ['WV', 'West Virginia'], ['WI', 'Wisconsin'], ['WY', 'Wyoming'], ['PR', 'Puerto Rico'],
] as const).map(([c, n]) => [`US-${c}`, n] as const);

export const REGION_GROUPS: readonly RegionGroup[] = [
  { country: 'US', regions: US },
  {
    country: 'CA',
    regions: [['CA-AB', 'Alberta'], ['CA-BC', 'British Columbia'], ['CA-MB', 'Manitoba'], ['CA-NB', 'New Brunswick'],
      ['CA-NL', 'Newfoundland and Labrador'], ['CA-NS', 'Nova Scotia'], ['CA-NT', 'Northwest Territories'], ['CA-NU', 'Nunavut'],
      ['CA-ON', 'Ontario'], ['CA-PE', 'Prince Edward Island'], ['CA-QC', 'Quebec'], ['CA-SK', 'Saskatchewan'], ['CA-YT', 'Yukon']],
  },
  { country: 'GB', regions: [['GB-ENG', 'England'], ['GB-SCT', 'Scotland'], ['GB-WLS', 'Wales'], ['GB-NIR', 'Northern Ireland']] },
  {
    country: 'AU',
    regions: [['AU-ACT', 'Australian Capital Territory'], ['AU-NSW', 'New South Wales'], ['AU-NT', 'Northern Territory'],
      ['AU-QLD', 'Queensland'], ['AU-SA', 'South Australia'], ['AU-TAS', 'Tasmania'], ['AU-VIC', 'Victoria'], ['AU-WA', 'Western Australia']],
  },
];

const CODE = /^[A-Z]{2}-[A-Z0-9]{1,3}$/;

/** Fills the region select: a "choose" entry, then each country's regions by name; `extra` (a link's code not listed) first. */
export function fillRegionSelect(select: HTMLSelectElement, extra?: string): void {
  const choose = new Option('', '');
  setText(choose, () => t('form.regionChoose'));
  select.replaceChildren(choose);
  const listed = REGION_GROUPS.some((g) => g.regions.some(([c]) => c === extra));
  if (extra && CODE.test(extra) && !listed) select.add(new Option(extra, extra));
  for (const g of REGION_GROUPS) {
    const group = document.createElement('optgroup');
    const country = g.country;
    bind(group, 'label', () => { group.label = t(`country.${country}`); });
    for (const [code, name] of g.regions) group.append(new Option(name, code));
    select.add(group);
  }
}

// The sample data of the uk-network example: people, groups, threads and documents for three
// nodes (the Improvement Service, Glasgow City Council and the Local Government Association).
// Everything is generated from a fixed seed, so every run (and every test) gets the same network.
// All names are made up; any likeness to a real person is a coincidence.
//
//   import { sampleData, PRIVATE_WORD } from './data.mjs';
//   const data = sampleData({ scale: 1 });   // scale < 1: fewer people (the tests use 0.3)
//
// Node keys used below: 'is', 'glasgow', 'lga'.

// A word that occurs only in a thread of the private group (`solal-litigation`): searches by
// anyone outside that group must never find it.
export const PRIVATE_WORD = 'Quillfeather';

// mulberry32: a small deterministic PRNG.
function prng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const SCOTTISH_FIRST = ['Ailsa', 'Alasdair', 'Callum', 'Catriona', 'Eilidh', 'Euan', 'Fiona',
  'Fraser', 'Hamish', 'Iona', 'Isla', 'Kirsty', 'Lachlan', 'Morag', 'Mhairi', 'Ruaridh', 'Ross',
  'Shona', 'Struan', 'Ewan', 'Gregor', 'Heather', 'Innes', 'Jamie', 'Kenneth', 'Lorna', 'Murdo',
  'Rhona', 'Seonaid', 'Craig', 'Douglas', 'Elspeth', 'Gillian', 'Graeme', 'Aileen', 'Duncan',
  'Fergus', 'Moira', 'Neil', 'Rory', 'Siobhan', 'Stuart', 'Kenna', 'Blair', 'Ishbel', 'Calum'];
const SCOTTISH_LAST = ['MacLeod', 'Campbell', 'Robertson', 'Stewart', 'MacDonald', 'Murray',
  'Fraser', 'Ross', 'Paterson', 'Reid', 'Sinclair', 'Thomson', 'Mackenzie', 'Henderson',
  'Ferguson', 'Grant', 'Kerr', 'Munro', 'Drummond', 'Cameron', 'Baird', 'Galbraith', 'McIntyre',
  'Docherty', 'Gallacher', 'Boyle', 'Wallace', 'Buchanan', 'Lamont', 'Urquhart', 'Crawford',
  'Kennedy', 'McAllister', 'Ritchie', 'Gilchrist', 'Nicolson'];
const ENGLISH_FIRST = ['Oliver', 'Amelia', 'Harry', 'Sophie', 'George', 'Charlotte', 'James',
  'Emily', 'Thomas', 'Hannah', 'William', 'Jessica', 'Daniel', 'Lucy', 'Samuel', 'Aisha',
  'Mohammed', 'Rachel', 'Helen', 'Mark', 'Sarah', 'Andrew', 'Claire', 'Richard', 'Joanne', 'Paul',
  'Nicola', 'Simon', 'Kate', 'Imran', 'Chloe', 'Ben', 'Rebecca', 'Tom', 'Zara', 'Raj', 'Grace',
  'Adebayo', 'Gemma', 'Stephen', 'Yasmin', 'Martin'];
const ENGLISH_LAST = ['Smith', 'Jones', 'Taylor', 'Brown', 'Williams', 'Wilson', 'Johnson',
  'Davies', 'Patel', 'Wright', 'Walker', 'Evans', 'Hughes', 'Green', 'Hall', 'Wood', 'Clarke',
  'Khan', 'Lewis', 'Harris', 'Turner', 'Cooper', 'Hill', 'Ward', 'Morris', 'Moore', 'King',
  'Baker', 'Shaw', 'Ali', 'Chapman', 'Holmes', 'Marsh', 'Okafor', 'Begum', 'Fletcher'];

// Organisations of the members of each node, with a weight: a node hosts its own organisation
// and, for the Improvement Service and LGA, bodies that have no node of their own.
const ORGANISATIONS = {
  is: [['Improvement Service', 8], ['Fife Council', 2], ['City of Edinburgh Council', 2],
    ['Aberdeen City Council', 1], ['The Highland Council', 1], ['Dundee City Council', 1],
    ['North Lanarkshire Council', 1], ['South Ayrshire Council', 1],
    ['Scottish Borders Council', 1], ['Perth and Kinross Council', 1], ['NHS Lothian', 1],
    ['Police Scotland', 1],
    ['Scottish Fire and Rescue Service', 1], ['COSLA', 1], ['Zero Waste Scotland', 1]],
  glasgow: [['Glasgow City Council', 6], ['Glasgow City Health and Social Care Partnership', 1]],
  lga: [['Local Government Association', 4], ['Manchester City Council', 1],
    ['Leeds City Council', 1], ['Birmingham City Council', 1], ['Kent County Council', 1],
    ['Bristol City Council', 1], ['Cornwall Council', 1], ['Hampshire County Council', 1],
    ['Newcastle City Council', 1], ['London Borough of Camden', 1], ['Norfolk County Council', 1],
    ['Essex County Council', 1]],
};

const JOB_TITLES = {
  is: ['Programme Manager', 'Improvement Adviser', 'Change Manager', 'Service Design Lead',
    'Performance and Improvement Officer', 'Data Analyst', 'Policy Officer',
    'Sustainability Officer', 'Climate Change Officer', 'Gender-Based Violence Coordinator',
    'Violence Against Women Partnership Lead', 'Community Planning Manager',
    'Digital Transformation Manager', 'Business Analyst', 'Project Officer'],
  glasgow: ['Climate Change Officer', 'Net Zero Programme Lead', 'Housing Officer',
    'Senior Housing Officer', 'Planning Officer', 'Solicitor', 'Information Governance Officer',
    'Change Manager', 'Service Designer', 'Social Work Team Leader', 'HR Business Partner',
    'Environmental Health Officer', 'Digital Services Manager', 'Business Analyst',
    'Violence Against Women Coordinator'],
  lga: ['Solicitor', 'Senior Solicitor', 'Principal Lawyer (Planning)', 'Employment Lawyer',
    'Information Governance Manager', 'Data Protection Officer', 'Monitoring Officer',
    'Head of Legal Services', 'Procurement Lawyer', 'Policy Adviser', 'Senior Adviser',
    'Workforce Adviser', 'Programme Manager', 'Litigation Lawyer', 'Planning Officer'],
};

const BIOS = ['Happy to share what worked for us and what did not.',
  'Interested in joining up services around the people who use them.',
  'Ask me about data sharing agreements and DPIAs.',
  'Leading our work on net zero and climate adaptation.',
  'Twenty years in local government; still learning.',
  'Working on the council\'s transformation programme.', ''];

// The people every run has, with fixed handles: the demo sign-ins and the groups' owners.
const FIXED = {
  is: [
    { handle: 'euan.macleod', name: 'Euan MacLeod',
      job: 'Programme Manager, Change and Improvement',
      bio: 'Facilitator of the Change Managers Network.' },
    { handle: 'isla.fraser', name: 'Isla Fraser', job: 'Sustainability Lead',
      bio: 'Runs the Sustainable Scotland Network.' },
    { handle: 'mhairi.campbell', name: 'Mhairi Campbell', job: 'Gender-Based Violence Policy Lead',
      bio: 'Coordinates the National Violence Against Women Network.' },
  ],
  glasgow: [
    { handle: 'ailsa.robertson', name: 'Ailsa Robertson', job: 'Climate Change Officer',
      bio: 'Glasgow\'s climate adaptation and net zero work.' },
    { handle: 'gregor.stewart', name: 'Gregor Stewart', job: 'Solicitor (Planning)',
      bio: 'Planning and environmental law for the council.' },
    { handle: 'kirsty.docherty', name: 'Kirsty Docherty', job: 'Change Manager',
      bio: 'Organisational change in Neighbourhoods, Regeneration and Sustainability.' },
  ],
  lga: [
    { handle: 'helen.clarke', name: 'Helen Clarke', job: 'Head of Legal Services',
      bio: 'Chair of the Society of Local Authority Lawyers.' },
    { handle: 'priya.shah', name: 'Priya Shah', job: 'Senior Solicitor',
      bio: 'Information law and governance.' },
    { handle: 'tom.fletcher', name: 'Tom Fletcher', job: 'Employment Lawyer',
      bio: 'Employment tribunals and workforce policy.' },
  ],
};

const NODE_SIZES = { is: 90, glasgow: 80, lga: 110 };

function ascii(s) {
  return s.normalize('NFKD').replace(/[^A-Za-z]/g, '').toLowerCase();
}

function weighted(rand, pairs) {
  const total = pairs.reduce((n, [, w]) => n + w, 0);
  let r = rand() * total;
  for (const [value, w] of pairs) {
    if ((r -= w) < 0) return value;
  }
  return pairs[pairs.length - 1][0];
}

function pick(rand, list) {
  return list[Math.floor(rand() * list.length)];
}

function emailDomain(organisation) {
  return `${organisation.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-|-$/g, '')}.example`;
}

// The members of node `key`: [{handle, name, email, organisation, job, bio, visibility,
// active}]. `active` members get a password and sign in during the seed (to choose their
// directory visibility, join groups and post); the others are imported without a password and
// keep the default visibility (this node only), like people who have not signed in yet.
function members(key, scale, rand) {
  const scottish = key !== 'lga';
  const first = scottish ? SCOTTISH_FIRST : ENGLISH_FIRST;
  const last = scottish ? SCOTTISH_LAST : ENGLISH_LAST;
  const home = ORGANISATIONS[key][0][0];
  const out = FIXED[key].map((m) => ({
    handle: m.handle, name: m.name, email: `${m.handle}@${emailDomain(home)}`, organisation: home,
    job: m.job, bio: m.bio, visibility: 'network', active: true, fixed: true,
  }));
  const seen = new Set(out.map((m) => m.handle));
  const count = Math.max(FIXED[key].length + 6, Math.round(NODE_SIZES[key] * scale));
  while (out.length < count) {
    const f = pick(rand, first);
    const l = pick(rand, last);
    let handle = `${ascii(f)}.${ascii(l)}`;
    for (let n = 2; seen.has(handle); n++) handle = `${ascii(f)}.${ascii(l)}${n}`;
    seen.add(handle);
    const organisation = weighted(rand, ORGANISATIONS[key]);
    const r = rand();
    // Most people choose the whole network; some this node only; a few stay hidden.
    const visibility = r < 0.8 ? 'network' : r < 0.93 ? 'node' : 'hidden';
    const active = rand() < 0.85;
    out.push({
      handle, name: `${f} ${l}`, email: `${handle}@${emailDomain(organisation)}`, organisation,
      job: pick(rand, JOB_TITLES[key]), bio: pick(rand, BIOS),
      visibility: active ? visibility : 'node', active, fixed: false,
    });
  }
  return out;
}

// Groups: key (node), slug, name, description, tags, visibility, join_policy, owner (handle at
// the owning node), and who joins: `local`/`remote` counts of the sample members, and `extra`
// fixed members by "key:handle"; `requests`: how many people per node ask to join and are left
// waiting for a facilitator.
const GROUPS = [
  { node: 'is', slug: 'change-managers', name: 'Change Managers Network',
    description: 'Practitioners leading organisational change in Scotland\'s councils and public ' +
      'bodies: methods, case studies and peer support.',
    tags: ['change', 'transformation', 'practice'], visibility: 'public', join_policy: 'request',
    owner: 'euan.macleod', local: 10, remote: { glasgow: 4, lga: 2 },
    extra: ['glasgow:kirsty.docherty'], requests: { is: 1, glasgow: 1 } },
  { node: 'is', slug: 'sustainable-scotland', name: 'Sustainable Scotland Network',
    description: 'Supporting the public sector in Scotland to act on climate change and ' +
      'sustainability: reporting duties, adaptation and net zero plans.',
    tags: ['climate', 'net zero', 'sustainability'], visibility: 'public', join_policy: 'open',
    owner: 'isla.fraser', local: 14, remote: { glasgow: 6, lga: 2 } },
  { node: 'is', slug: 'nvaw-network', name: 'National Violence Against Women Network',
    description: 'Violence Against Women Partnership leads sharing practice on Equally Safe, ' +
      'commissioning and data.',
    tags: ['equally safe', 'gender-based violence', 'partnerships'], visibility: 'restricted',
    join_policy: 'request', owner: 'mhairi.campbell', local: 8, remote: { glasgow: 3 } },
  { node: 'is', slug: 'lgbf', name: 'Local Government Benchmarking Framework',
    description: 'Comparing performance across Scotland\'s 32 councils: indicators, family ' +
      'groups and improvement.',
    tags: ['benchmarking', 'performance', 'data'], visibility: 'public', join_policy: 'open',
    owner: 'euan.macleod', local: 9, remote: { glasgow: 3 } },
  { node: 'lga', slug: 'solal', name: 'Society of Local Authority Lawyers',
    description: 'The national network for lawyers in local government: news, events and the ' +
      'workstream groups.',
    tags: ['law', 'legal services'], visibility: 'public', join_policy: 'request',
    owner: 'helen.clarke', local: 16, remote: { glasgow: 2 },
    extra: ['lga:priya.shah', 'lga:tom.fletcher', 'glasgow:gregor.stewart'],
    requests: { lga: 1, glasgow: 1 } },
  { node: 'lga', slug: 'solal-planning-law', name: 'SOLAL: Planning law',
    description: 'Planning appeals, section 106 agreements, enforcement and the latest case law.',
    tags: ['planning', 'law'], visibility: 'public', join_policy: 'open', owner: 'helen.clarke',
    local: 7, remote: { glasgow: 1 }, extra: ['glasgow:gregor.stewart'] },
  { node: 'lga', slug: 'solal-information-governance', name: 'SOLAL: Information governance',
    description: 'Data protection, FOI and records management for council lawyers and DPOs.',
    tags: ['gdpr', 'foi', 'data protection'], visibility: 'restricted', join_policy: 'request',
    owner: 'priya.shah', local: 8, remote: { glasgow: 1 } },
  { node: 'lga', slug: 'solal-employment-law', name: 'SOLAL: Employment law',
    description: 'Tribunals, restructures, TUPE and workforce policy.',
    tags: ['employment', 'law', 'hr'], visibility: 'public', join_policy: 'open',
    owner: 'tom.fletcher', local: 7, remote: {} },
  { node: 'lga', slug: 'solal-procurement', name: 'SOLAL: Procurement and contracts',
    description: 'The Procurement Act, contract disputes and framework agreements.',
    tags: ['procurement', 'contracts'], visibility: 'public', join_policy: 'open',
    owner: 'helen.clarke', local: 6, remote: {} },
  { node: 'lga', slug: 'solal-litigation', name: 'SOLAL: Litigation strategy (members only)',
    description: 'Confidential discussion of live litigation between member authorities.',
    tags: ['litigation'], visibility: 'private', join_policy: 'invite', owner: 'helen.clarke',
    local: 4, remote: {}, extra: ['lga:priya.shah'] },
  { node: 'glasgow', slug: 'net-zero-partners', name: 'Glasgow Net Zero Partners',
    description: 'Council services and partners delivering the city\'s climate plan.',
    tags: ['climate', 'net zero', 'glasgow'], visibility: 'public', join_policy: 'open',
    owner: 'ailsa.robertson', local: 10, remote: { is: 2 } },
  { node: 'glasgow', slug: 'housing-officers', name: 'Glasgow Housing Officers',
    description: 'Housing options, homelessness and temporary accommodation.',
    tags: ['housing', 'homelessness'], visibility: 'restricted', join_policy: 'request',
    owner: 'ailsa.robertson', local: 8, remote: {} },
  { node: 'glasgow', slug: 'digital-glasgow', name: 'Digital Glasgow',
    description: 'Service design, digital skills and the council\'s online services.',
    tags: ['digital', 'service design'], visibility: 'public', join_policy: 'open',
    owner: 'kirsty.docherty', local: 8, remote: { is: 1 } },
];

// Threads per group slug: title, body (Markdown) and replies (Markdown).
const THREADS = {
  'change-managers': [
    ['Lessons from merging two service teams',
      'We merged our **revenues** and **benefits** teams this year. What we would do again:\n\n' +
      '- involve staff in designing the new structure\n- publish a clear timeline\n' +
      '- keep one person answering questions\n\nWhat would you add?',
      ['Agreed on the timeline. We also ran *drop-in sessions* every fortnight.',
        'We used a simple change impact assessment template; happy to share it in the library.',
        'The single point of contact made the biggest difference for us.']],
    ['Change readiness surveys: worth it?',
      'Has anyone used a change readiness survey before a restructure? Did the results change ' +
      'what you did?',
      ['Yes: it showed us that managers needed support first.']],
    ['Meet-up in Stirling in March',
      'We are planning an in-person meet-up in **Stirling** in March. Topics so far:\n\n' +
      '1. Benefits realisation\n2. Agile in local government\n3. Working with unions',
      ['Count me in.', 'Could we add a session on evaluating change?']],
  ],
  'sustainable-scotland': [
    ['Public bodies climate change duties reports: deadline reminder',
      'Reports are due by **30 November**. The reporting template is in the library.\n\n' +
      'Questions about the new adaptation section are welcome here.',
      ['Does the adaptation section expect a full risk register?',
        'A summary is fine; link to the full register if you publish it.']],
    ['Heat networks: procurement experience',
      'We are starting on a heat network in the city centre. Who has procured one recently?',
      ['We did, through a concession. Our lessons: get legal involved *early*.',
        'Glasgow is looking at the same; let us compare notes.']],
    ['Climate adaptation case studies wanted',
      'We are collecting short case studies on **flood resilience** and **urban greening**.',
      []],
  ],
  'nvaw-network': [
    ['Equally Safe quality standards: self-assessment',
      'Partnerships are completing the self-assessment this quarter. Share your questions here.',
      ['Our partnership found the data section hardest.']],
    ['Commissioning specialist services',
      'How are you commissioning specialist support services for the next three years?',
      ['We moved to a grant model with longer terms.']],
  ],
  'lgbf': [
    ['New indicators for 2026',
      'The board agreed three new indicators. Details and definitions are in the library.',
      ['Will the family groups change?', 'Not this year.']],
  ],
  'solal': [
    ['SOLAL annual conference: call for speakers',
      'The conference is in **Birmingham** on 14 May. We are looking for speakers on:\n\n' +
      '- the Procurement Act in practice\n- AI and legal services\n- recruitment and retention',
      ['I could speak on the Procurement Act.', 'Great, I will be in touch.']],
    ['Recruitment of trainee solicitors',
      'How are councils attracting trainees? We are struggling to compete with private practice.',
      ['Apprenticeships have worked well for us.',
        'We offer hybrid working from day one; it helps.']],
  ],
  'solal-planning-law': [
    ['Section 106 viability reviews',
      'What clauses are you using for late-stage viability reviews?',
      ['We use a standard clause with an uplift share of 50%.',
        'In Scotland we use section 75 agreements; similar questions arise.']],
    ['Enforcement against short-term lets',
      'Any recent appeal decisions on enforcement against short-term lets?',
      ['Edinburgh had several; see the library for a summary.']],
  ],
  'solal-information-governance': [
    ['Subject access requests: vexatious requesters',
      'How are you applying the *manifestly unfounded* exemption after the latest guidance?',
      ['Sparingly, and with a written rationale every time.']],
  ],
  'solal-employment-law': [
    ['Restructures and consultation periods',
      'A reminder of the collective consultation periods:\n\n| staff | period |\n|---|---|\n' +
      '| 20 to 99 | 30 days |\n| 100 or more | 45 days |',
      ['Useful, thank you.']],
  ],
  'solal-procurement': [
    ['Procurement Act: transparency notices',
      'Which notices are catching people out so far?',
      ['Contract change notices, without doubt.']],
  ],
  'solal-litigation': [
    [`Settlement approach for Project ${PRIVATE_WORD}`,
      `Confidential: our position on the ${PRIVATE_WORD} claim before the mediation next week.`,
      ['Agreed; we should not concede on costs.']],
  ],
  'net-zero-partners': [
    ['Retrofit programme: first results',
      'The first 200 homes are done. Early figures show a **35%** drop in heating demand.',
      ['Impressive. How did you choose the homes?', 'Worst EPC ratings first.']],
    ['Cycling infrastructure consultation',
      'The consultation on the South City Way extension opens on Monday.',
      []],
  ],
  'housing-officers': [
    ['Temporary accommodation pressures',
      'Numbers in temporary accommodation are up again. What is working for prevention?',
      ['Early contact with private landlords has helped us.']],
  ],
  'digital-glasgow': [
    ['Accessibility audits of our online forms',
      'We are auditing every online form against WCAG 2.2 AA. Volunteers welcome!',
      ['I can help with the council tax forms.']],
  ],
};

// Documents per group slug: [title, description, filename, kind ('pdf' | 'txt' | 'csv')].
const DOCUMENTS = {
  'change-managers': [
    ['Change impact assessment template', 'A one-page template for assessing the impact of a ' +
      'change on staff and services.', 'change-impact-assessment.pdf', 'pdf'],
    ['Stirling meet-up agenda', 'Draft agenda.', 'stirling-agenda.txt', 'txt'],
  ],
  'sustainable-scotland': [
    ['Climate change duties reporting template 2026', 'The template for the annual report.',
      'climate-duties-template.pdf', 'pdf'],
    ['Emissions factors', 'Conversion factors used in the template.', 'emission-factors.csv',
      'csv'],
  ],
  'nvaw-network': [
    ['Equally Safe self-assessment guide', 'How to complete the quality standards ' +
      'self-assessment.', 'equally-safe-guide.pdf', 'pdf'],
  ],
  'lgbf': [
    ['Indicator definitions 2026', 'Definitions of every indicator.', 'lgbf-definitions.csv',
      'csv'],
  ],
  'solal': [
    ['Conference programme', 'The draft programme of the annual conference.',
      'solal-conference.pdf', 'pdf'],
  ],
  'solal-planning-law': [
    ['Short-term lets appeal decisions', 'A summary of recent appeal decisions.',
      'short-term-lets.txt', 'txt'],
  ],
  'net-zero-partners': [
    ['Retrofit programme summary', 'The first phase in figures.', 'retrofit-summary.pdf', 'pdf'],
  ],
};

// A small, valid one-page PDF showing `lines` (Helvetica, no compression).
export function makePdf(lines) {
  const esc = (s) => s.replace(/[\\()]/g, (c) => `\\${c}`).replace(/[^\x20-\x7e]/g, '?');
  const text = lines.map((l, i) => `BT /F1 ${i === 0 ? 16 : 11} Tf 56 ${770 - i * 22} Td ` +
    `(${esc(l)}) Tj ET`).join('\n');
  const objects = [
    '<< /Type /Catalog /Pages 2 0 R >>',
    '<< /Type /Pages /Kids [3 0 R] /Count 1 >>',
    '<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R ' +
      '/Resources << /Font << /F1 5 0 R >> >> >>',
    `<< /Length ${Buffer.byteLength(text)} >>\nstream\n${text}\nendstream`,
    '<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>',
  ];
  let out = '%PDF-1.4\n';
  const offsets = [];
  objects.forEach((body, i) => {
    offsets.push(Buffer.byteLength(out));
    out += `${i + 1} 0 obj\n${body}\nendobj\n`;
  });
  const xref = Buffer.byteLength(out);
  out += `xref\n0 ${objects.length + 1}\n0000000000 65535 f \n`;
  for (const o of offsets) out += `${String(o).padStart(10, '0')} 00000 n \n`;
  out += `trailer\n<< /Size ${objects.length + 1} /Root 1 0 R >>\nstartxref\n${xref}\n%%EOF\n`;
  return Buffer.from(out, 'latin1');
}

function documentContent(title, description, kind) {
  if (kind === 'pdf') {
    return { media_type: 'application/pdf',
      bytes: makePdf([title, description, '', 'Sample document of the kith uk-network example.']) };
  }
  if (kind === 'csv') {
    const rows = ['name,value,unit', 'grid electricity,0.177,kgCO2e/kWh', 'natural gas,0.183,' +
      'kgCO2e/kWh', 'diesel,2.51,kgCO2e/litre'];
    return { media_type: 'text/csv', bytes: Buffer.from(`${rows.join('\n')}\n`) };
  }
  return { media_type: 'text/plain',
    bytes: Buffer.from(`${title}\n${'='.repeat(title.length)}\n\n${description}\n`) };
}

// The whole sample network. Answers {members: {is: [...], glasgow: [...], lga: [...]},
// groups: [{...group, members: ["key:handle", ...], requests: [...]}], threads, documents,
// demo}. Group members
// are chosen among the active members; every thread and reply has an author among the group's
// members (the owner starts the first thread).
export function sampleData({ scale = 1 } = {}) {
  const rand = prng(20261202);
  const people = {};
  for (const key of ['is', 'glasgow', 'lga']) people[key] = members(key, scale, rand);

  const groups = GROUPS.map((g) => {
    const chosen = new Set([`${g.node}:${g.owner}`, ...(g.extra ?? [])]);
    const take = (key, n, into) => {
      const pool = people[key].filter((m) => m.active && !m.fixed);
      const want = Math.min(pool.length, Math.max(1, Math.round(n * Math.max(scale, 0.3))));
      for (let tries = 0, added = 0; added < want && tries < 1000; tries++) {
        const m = pick(rand, pool);
        const id = `${key}:${m.handle}`;
        if (!chosen.has(id)) {
          chosen.add(id);
          into.add(id);
          added++;
        }
      }
    };
    const joined = new Set(chosen);
    take(g.node, g.local, joined);
    for (const [key, n] of Object.entries(g.remote ?? {})) take(key, n, joined);
    const requests = new Set();
    for (const [key, n] of Object.entries(g.requests ?? {})) take(key, n, requests);
    return { ...g, members: [...joined], requests: [...requests] };
  });

  const threads = [];
  for (const g of groups) {
    (THREADS[g.slug] ?? []).forEach(([title, body, replies], i) => {
      const author = i === 0 ? `${g.node}:${g.owner}` : pick(rand, g.members);
      threads.push({ group: g.slug, title, body, author,
        replies: replies.map((text) => ({ body: text, author: pick(rand, g.members) })) });
    });
  }
  const documents = [];
  for (const g of groups) {
    for (const [title, description, filename, kind] of DOCUMENTS[g.slug] ?? []) {
      documents.push({ group: g.slug, title, description, filename,
        author: `${g.node}:${g.owner}`, ...documentContent(title, description, kind) });
    }
  }
  return {
    members: people,
    groups,
    threads,
    documents,
    demo: {
      council: 'glasgow:ailsa.robertson',
      facilitator: 'is:euan.macleod',
      lga: 'lga:priya.shah',
    },
  };
}

// The CSV for `kithctl member import` (RFC 4180 quoting); `password` for the active members.
export function membersCsv(list, password) {
  const q = (v) => (/[",\r\n]/.test(v) ? `"${v.replace(/"/g, '""')}"` : v);
  const rows = ['handle,display_name,email,organisation,job_title,password'];
  for (const m of list) {
    rows.push([m.handle, m.name, m.email, m.organisation, m.job, m.active ? password : '']
      .map(q).join(','));
  }
  return `${rows.join('\n')}\n`;
}

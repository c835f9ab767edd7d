// The --workers report: per scenario, --workers 1 and 2 with the server on one
// core, then on both cores beside the generator; the hop's cost as the ratio of CPU per
// delivery; and a scaling model filled from this run's numbers.
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { INSTRUMENT_LIMIT_PCT, WORKERS_HOP_GOAL } from './config.mjs';
import { cellCounts, outcome, runsByCell } from './report.mjs';
import { LOADTEST } from './setup.mjs';
import { summarize } from './stats.mjs';
import { fmt } from './svg.mjs';

/** The scenario whose CPU per delivery the model and the goal are read from. */
const MODEL_SCENARIO = 'fixed-400k-10k';
/** Cores the model is computed for, and the two fanouts it is computed at (subscribers per topic). */
const MODEL_CORES = [4, 8, 16];
const MODEL_FANOUTS = [1000, 10];

const PIN_TITLES = {
  'one-core': 'Server on CPU 0, generator alone on CPU 1',
  shared: 'Server on CPUs 0,1, generator on CPUs 0,1: the generator shares the cores',
};

/** Per scenario and setup: the runs and the summarized metrics. */
export function aggregate(all) {
  const cells = runsByCell(all.runs, 'setup');
  const out = new Map();
  for (const [key, runs] of cells) {
    const ok = runs.filter((r) => r.ok);
    const metric = (f) => summarize(ok.map(f));
    out.set(key, {
      ...cellCounts(runs),
      deliveries: metric((r) => r.deliveriesPerS),
      cpu: metric((r) => r.cpuUsPerDelivery),
      // everything the server's core did per delivery: the process plus what else ran there,
      // which on loopback is mostly the kernel's network work for the server's sends (softirq),
      // charged to the process or not depending on where the kernel ran it
      core: metric((r) => ((r.serverBusyPct + r.otherLoadPct) * 1e4) / r.deliveriesPerS),
      mainPerPublish: metric((r) => r.mainThreadCpuUsPerPublish),
      p50: metric((r) => r.latencyUs?.p50),
      p99: metric((r) => r.latencyUs?.p99),
      serverBusy: metric((r) => r.serverBusyPct),
      mainBusy: metric((r) => r.mainThreadBusyPct),
      loadgenBusy: metric((r) => r.loadgenBusyPct),
      otherLoad: metric((r) => r.otherLoadPct),
      workersSeen: [...new Set(ok.map((r) => r.workersSeen))],
      ...outcome(ok),
    });
  }
  return out;
}

const num = (v, digits) => (Number.isFinite(v) ? v.toFixed(digits) : 'n/a');
const ms = (us) => num(us / 1000, 2);
const range = (s, digits) =>
  Number.isFinite(s.median) ? `${s.median.toFixed(digits)} (${s.min.toFixed(digits)}-${s.max.toFixed(digits)})` : 'n/a';

function flags(c, scenario, setup) {
  const f = [];
  // Closed loops should saturate the server's cores: its own, or with 'shared' both, which the
  // generator takes part of.
  const shared = setup.pin === 'shared';
  const busy = c.serverBusy.median + (shared ? c.loadgenBusy.median : 0);
  if (scenario.loadgen.mode === 'closed' && busy < 90 * setup.cpus.length && !c.limited) {
    f.push(shared ? 'server + generator below 90% of both cores' : 'server below 90% of its core');
  }
  if (c.otherLoad.median > 10) f.push(`other load ${c.otherLoad.median.toFixed(0)}%: not quiet`);
  if (c.limited) f.push(`**generator above ${INSTRUMENT_LIMIT_PCT}%**`);
  if (c.behind) f.push('did not keep up with the rate');
  if (c.undrained) f.push('drain timed out (loss cannot be told)');
  if (c.ok < c.total && !c.unavailable) f.push(`${c.total - c.ok}/${c.total} runs failed: ${c.failure}`);
  return f.join('; ');
}

function scenarioTable(scenario, setups, cells) {
  const rows = [
    '| transport | workers | pin (server / generator) | deliveries/s | CPU µs/delivery median (range) | main thread µs/publish | p50 ms | p99 ms | server CPU % | main thread % | loadgen CPU % | other load % | lost/dup/reord | flags |',
    '|---|---|---|---|---|---|---|---|---|---|---|---|---|---|',
  ];
  for (const setup of setups) {
    const c = cells.get(`${scenario.id}|${setup.name}`);
    if (!c) continue;
    const pin = `${setup.cpus.join(',')} / ${setup.loadgenCpus.join(',')}`;
    if (c.ok === 0) {
      rows.push(
        `| ${setup.transport} | ${setup.workers} | ${pin} | ${c.unavailable ? 'unavailable' : 'failed'}: ${(c.unavailable ?? c.failure ?? '').slice(0, 160)} ||||||||||`,
      );
      continue;
    }
    const seen = c.workersSeen.filter((w) => w !== undefined && w !== null);
    const workers =
      seen.length === 1 && seen[0] === setup.workers
        ? String(setup.workers)
        : `${setup.workers} (listen line: ${seen.join(',') || 'not found'})`;
    rows.push(
      `| ${[
        setup.transport,
        workers,
        pin,
        `${fmt(c.deliveries.median)} ±${num(c.deliveries.spreadPct, 0)}%`,
        range(c.cpu, 3),
        num(c.mainPerPublish.median, 1),
        ms(c.p50.median),
        ms(c.p99.median),
        num(c.serverBusy.median, 0),
        num(c.mainBusy.median, 0),
        num(c.loadgenBusy.median, 0),
        num(c.otherLoad.median, 0),
        c.undrained ? `n/a/${c.duplicated}/${c.reordered}` : `${c.lost}/${c.duplicated}/${c.reordered}`,
        flags(c, scenario, setup),
      ].join(' | ')} |`,
    );
  }
  return rows.join('\n');
}

/** --workers 2 over --workers 1 of one transport and placement: medians and the per-repeat spread. */
export function hopRatio(all, cells, scenario, transport, pin) {
  const one = all.setups.find((s) => s.transport === transport && s.pin === pin && s.workers === 1);
  const two = all.setups.find((s) => s.transport === transport && s.pin === pin && s.workers === 2);
  if (!one || !two) return null;
  const c1 = cells.get(`${scenario}|${one.name}`);
  const c2 = cells.get(`${scenario}|${two.name}`);
  if (!c1?.ok || !c2?.ok) return null;
  // Runs of one repeat ran back to back, so their ratio is the least touched by drift.
  const byRepeat = (c) => new Map(c.runs.filter((r) => r.ok).map((r) => [r.repeat, r]));
  const r1 = byRepeat(c1);
  const paired = [...byRepeat(c2)].filter(([rep]) => r1.has(rep)).map(([rep, r]) => r.cpuUsPerDelivery / r1.get(rep).cpuUsPerDelivery);
  const cpu = c2.cpu.median / c1.cpu.median;
  const { subscribers, topics } = all.scenarios.find((s) => s.id === scenario).loadgen;
  const fanout = subscribers / topics;
  return {
    one: c1,
    two: c2,
    cpu,
    paired: summarize(paired),
    deliveries: c2.deliveries.median / c1.deliveries.median,
    // The extra CPU of --workers 2 per publish: (c_2 - c_1) x deliveries per publish.
    hopUsPerPublish: (c2.cpu.median - c1.cpu.median) * fanout,
    // The same from the lowest and highest per-repeat ratio: how far the noise moves it.
    hopRange: paired.length ? [Math.min(...paired), Math.max(...paired)].map((x) => (x - 1) * c1.cpu.median * fanout) : null,
    fanout,
  };
}

function ratioTable(all, cells, pin) {
  const rows = [
    `| transport | scenario | CPU µs/delivery w1 | w2 | w2 / w1 | per-repeat w2 / w1 (range) | goal <= ${WORKERS_HOP_GOAL}x | core µs/delivery w1 / w2 (w2 / w1) | deliveries/s w2 / w1 | extra CPU per publish (µs) |`,
    '|---|---|---|---|---|---|---|---|---|---|',
  ];
  for (const transport of [...new Set(all.setups.filter((s) => s.pin === pin).map((s) => s.transport))]) {
    for (const scenario of all.scenarios) {
      const r = hopRatio(all, cells, scenario.id, transport, pin);
      if (!r) {
        rows.push(`| ${transport} | ${scenario.id} | n/a (a run failed or was not made) |||||||||`);
        continue;
      }
      const met = r.cpu <= WORKERS_HOP_GOAL ? 'met' : '**not met**';
      const goal = scenario.id === MODEL_SCENARIO ? met : `(${met}; the goal is stated for ${MODEL_SCENARIO})`;
      rows.push(
        `| ${[
          transport,
          scenario.id,
          num(r.one.cpu.median, 3),
          num(r.two.cpu.median, 3),
          `${num(r.cpu, 2)}x`,
          r.paired.n ? `${num(r.paired.min, 2)}-${num(r.paired.max, 2)}x (${r.paired.n})` : 'n/a',
          pin === 'one-core' ? goal : '(not the goal: see above)',
          pin === 'one-core'
            ? `${num(r.one.core.median, 3)} / ${num(r.two.core.median, 3)} (${num(r.two.core.median / r.one.core.median, 2)}x)`
            : 'n/a (the generator shares the cores)',
          `${num(r.deliveries, 2)}x`,
          num(r.hopUsPerPublish, 1),
        ].join(' | ')} |`,
      );
    }
  }
  return rows.join('\n');
}

/**
 * The scaling model of docs/workers-design.md, filled from this run: c_d from --workers 1 on
 * one core, the hop from --workers 2 on one core, the sequencer from the main thread's CPU.
 */
export function scalingInputs(all, cells) {
  const r = hopRatio(all, cells, MODEL_SCENARIO, 'uring', 'one-core');
  if (!r) return null;
  const workers = 2;
  const cd = r.one.cpu.median;
  // Every hop of a publish (1 to the sequencer + 1 to each of the W workers with subscribers),
  // wakes included, from the measured extra CPU per publish. Noise can make it negative; the
  // model then takes 0 and says so.
  const chMeasured = r.hopUsPerPublish / (1 + workers);
  const ch = Math.max(0, chMeasured);
  const chRange = r.hopRange?.map((h) => Math.max(0, h / (1 + workers)));
  const main = r.two.mainPerPublish.median;
  return { cd, cd2: r.two.cpu.median, chMeasured, ch, chRange, main, fanout: r.fanout, workers, repeats: r.paired.n };
}

/** Publishes/s and deliveries/s for N cores at fanout F, from the inputs. */
export function model(inputs, cores, fanout) {
  const { cd, ch, main, workers } = inputs;
  const w = Math.min(cores, fanout); // workers that hold subscribers of the topic
  const perPublish = fanout * cd + (1 + w) * ch;
  // The main thread's work per publish grows with each destination worker; charging a whole hop
  // per extra destination to it keeps the bound on the safe side.
  const sequencer = main + (w - workers) * ch;
  const cpuBound = (cores * 1e6) / perPublish;
  const seqBound = sequencer > 0 ? 1e6 / sequencer : Infinity;
  const publishes = Math.min(cpuBound, seqBound);
  return {
    w,
    perPublish,
    hopShare: ((1 + w) * ch) / perPublish,
    sequencer,
    cpuBound: cpuBound * fanout,
    seqBound: seqBound * fanout,
    deliveries: publishes * fanout,
    limit: cpuBound <= seqBound ? 'cores' : 'sequencer',
    efficiency: (publishes * fanout) / ((cores * 1e6) / cd),
  };
}

function scalingSection(all, cells) {
  const inputs = scalingInputs(all, cells);
  if (!inputs) return `No model: the uring ${MODEL_SCENARIO} runs with --workers 1 and 2 on one core are both needed.`;
  const { cd, cd2, chMeasured, ch, chRange, main, fanout } = inputs;
  const lines = [
    `Inputs, all from this run (uring, \`${MODEL_SCENARIO}\`, server on one core, medians):`,
    '',
    `- c_d = ${num(cd, 3)} µs: CPU per delivery with --workers 1 (all of a publish's work, the memory broker's sequencing included, divided over its deliveries).`,
    `- h = (c_d(w2) - c_d(w1)) x F = ${num(cd2 - cd, 3)} µs x ${num(fanout, 0)} = ${num(chMeasured * 3, 1)} µs per publish: what --workers 2 adds to a publish (the hop to the main thread, the hops to the 2 workers that hold subscribers of the topic, their wakes, and whatever three threads taking turns on one core cost).`,
    `- c_h = h / (1 + W) = ${num(chMeasured, 2)} µs per hop, W = 2${chMeasured < 0 ? ' (negative: inside the noise of this run; the model uses 0, so the hop is not measured here)' : ''}; ` +
      (chRange
        ? `from the lowest and highest per-repeat ratio (${inputs.repeats} pairs) ${num(chRange[0], 2)}-${num(chRange[1], 2)} µs, the range the model's last column carries. ` +
          'c_h is a difference of two CPU figures a few % apart: with one repeat, or other load on the cores, it is mostly noise.'
        : ''),
    `- m = ${num(main, 1)} µs: the main thread's CPU per publish with --workers 2 (/proc/PID/task/PID/stat): the sequencer, its ends of the hops, the acceptor (idle in the window) and timers.`,
    '',
    'Model, for N cores running --workers N (the main thread shares them), F subscribers per topic spread over',
    'W = min(N, F) workers:',
    '',
    '```',
    'CPU per publish      T(F, W)  = F·c_d + (1 + W)·c_h',
    'sequencer per publish S(W)    = m + (W - 2)·c_h          (conservative: each extra destination charged in full)',
    'publishes/s          P        = min(N·10^6 / T, 10^6 / S)',
    'deliveries/s                  = F·P;  efficiency = F·P / (N·10^6 / c_d)   (1.0 = N times one core of --workers 1)',
    '```',
    '',
    `| cores N | F | W | T µs/publish | hop share of T | core bound deliveries/s | sequencer bound deliveries/s | model deliveries/s | limited by | efficiency | model deliveries/s over the c_h range |`,
    '|---|---|---|---|---|---|---|---|---|---|---|',
  ];
  for (const cores of MODEL_CORES) {
    for (const f of MODEL_FANOUTS) {
      const m = model({ ...inputs, ch }, cores, f);
      // A larger c_h gives fewer deliveries: the range's high end is the low figure.
      const band = chRange ? chRange.map((x) => model({ ...inputs, ch: x }, cores, f).deliveries) : null;
      lines.push(
        `| ${cores} | ${f} | ${m.w} | ${num(m.perPublish, 1)} | ${num(100 * m.hopShare, 1)}% | ${fmt(m.cpuBound)} | ${fmt(m.seqBound)} | ${fmt(m.deliveries)} | ${m.limit} | ${num(m.efficiency, 2)} | ${band ? `${fmt(band[1])}-${fmt(band[0])}` : 'n/a'} |`,
      );
    }
  }
  lines.push(
    '',
    'm and c_h are measured at 400 publishes/s in writes of 8, where every batch pays its wakes (10-15 µs each,',
    'docs/workers-design.md); at higher publish rates the wakes spread over more publishes, so the sequencer bound',
    'and the hop share are pessimistic, most for small fanouts.',
    '',
    'What the model leaves out: on one core the hop includes context switches between three threads, which',
    'separate cores do not pay, while separate cores pay cross-core cache traffic and wakes of sleeping cores,',
    'which one core does not; memory bandwidth and the NIC; and the generator, one thread on one core, which',
    'a bigger machine may need several of. `npm run bench -- --workers auto` on such a machine checks it.',
  );
  return lines.join('\n');
}

function header(all) {
  const m = all.machine;
  const src = all.ringcast;
  return [
    `# ringcast --workers benchmark, ${m.date.slice(0, 10)}, ringcast ${src.commit}${src.dirty ? ' with uncommitted changes' : ''} (${all.profile})`,
    '',
    '| | |',
    '|---|---|',
    `| machine | ${m.cpu}, ${m.cores} cores, ${m.memoryGiB} GiB |`,
    `| kernel | ${m.kernel} |`,
    `| Node | ${m.node} |`,
    `| ringcast | ${src.cli} (checkout ${src.checkout} at ${src.commit}${src.dirty ? ', server/ or native/ modified' : ''}), run as node ${m.ringcastNodeFlags.join(' ')} |`,
    `| addon | ${src.addon} |`,
    `| bench | loadtest/ at ${m.commit}${m.dirty ? ' (modified)' : ''} |`,
    `| runs | ${all.timing.repeats} per scenario and setup, setups interleaved within a repeat; warmup ${all.timing.warmup} s, measured ${all.timing.duration} s |`,
    '',
    "CPU per delivery is the server process's utime + stime over the measured window (/proc/PID/stat, which sums every thread ",
    "of the process: main thread, workers, V8's and libuv's; checked against the sum of /proc/PID/task/*/stat with a busy ",
    'worker thread) divided by the deliveries in that window. "main thread" is /proc/PID/task/PID/stat alone: with ',
    '--workers 2 the acceptor and the sequencer, with --workers 1 everything but V8\'s helper threads. "other load %" is what ',
    "else ran on the run's cores (from /proc/stat), in % of one core. Ranges are min-max over the repeats. How to read the ",
    'rest: docs/loadtest.md.',
  ].join('\n');
}

export function writeReport(all) {
  const cells = aggregate(all);
  const sections = [header(all)];
  const pins = [...new Set(all.setups.map((s) => s.pin))];
  if (pins.includes('one-core')) {
    sections.push(
      `## (a) The hop: --workers 2 against --workers 1, both on one core\n\n${PIN_TITLES['one-core']}. ` +
        'The only difference between the two is the cross-worker path, so the ratio of CPU per delivery is its cost. ' +
        `The hop's goal: <= ${WORKERS_HOP_GOAL}x at ${MODEL_SCENARIO}. ` +
        '"CPU" is the server process\'s own time; "core" is everything CPU 0 did per delivery (the process plus ' +
        "what else ran there, mostly the kernel delivering the server's loopback sends in softirq). Where the kernel " +
        'runs that work, and so whether it is charged to the process, shifts with how the sends are submitted, ' +
        `so read both.\n\n${ratioTable(all, cells, 'one-core')}`,
    );
    for (const s of all.scenarios) {
      sections.push(
        `### ${s.title} (one core)\n\n${scenarioTable(
          s,
          all.setups.filter((x) => x.pin === 'one-core'),
          cells,
        )}`,
      );
    }
  }
  if (pins.includes('shared')) {
    const shared = all.setups.filter((x) => x.pin === 'shared');
    sections.push(
      '## (b) Both cores, the generator shares the cores\n\n' +
        `**${PIN_TITLES.shared}.** On this machine the generator competes with the server for the same two cores, so ` +
        "deliveries/s is what the pair of them gets out of two cores, not the server's capacity, and the loadgen CPU % " +
        'column is CPU taken from the server. Read it as "does --workers 2 use the second core when there is one", not as a ' +
        `scaling figure.\n\n${ratioTable(all, cells, 'shared')}`,
    );
    for (const s of all.scenarios) sections.push(`### ${s.title} (generator shares the cores)\n\n${scenarioTable(s, shared, cells)}`);
  }
  sections.push(`## (c) Scaling model for 4, 8 and 16 cores\n\n${scalingSection(all, cells)}`);
  const lostAny = [...cells.values()].reduce((n, c) => n + c.lost + c.duplicated + c.reordered, 0);
  sections.push(
    `## Correctness\n\n${lostAny === 0 ? 'No run lost, duplicated or reordered a delivery.' : `**${lostAny} lost, duplicated or reordered deliveries** (see the tables).`}`,
  );
  const file = path.join(
    LOADTEST,
    'reports',
    `${all.machine.date.slice(0, 10)}-${all.ringcast.commit}-workers${all.profile === 'quick' ? '-quick' : ''}.md`,
  );
  writeFileSync(file, `${sections.join('\n\n')}\n`);
  return file;
}

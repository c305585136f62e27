import { writeFileSync } from 'node:fs';

/**
 * Writes a minimal MaxMind DB (format 2.0, IPv4, 24-bit records) mapping networks to a country ISO code, so the
 * MaxMind adapter is tested against the real `maxmind` reader without shipping a GeoIP database.
 * Format: https://maxmind.github.io/MaxMind-DB/
 */

function control(type: number, size: number): Buffer {
  if (size >= 29) throw new Error('mmdb test writer: sizes above 28 are not needed here');
  return type <= 7 ? Buffer.from([(type << 5) | size]) : Buffer.from([size, type - 7]);
}
function string(value: string): Buffer {
  const bytes = Buffer.from(value, 'utf8');
  return Buffer.concat([control(2, bytes.length), bytes]);
}
function unsigned(type: 5 | 6 | 9, value: number | bigint): Buffer {
  let hex = BigInt(value).toString(16);
  if (hex === '0') hex = '';
  if (hex.length % 2) hex = `0${hex}`;
  const bytes = Buffer.from(hex, 'hex');
  return Buffer.concat([control(type, bytes.length), bytes]);
}
function map(entries: Array<[string, Buffer]>): Buffer {
  return Buffer.concat([control(7, entries.length), ...entries.flatMap(([key, value]) => [string(key), value])]);
}
function array(items: Buffer[]): Buffer {
  return Buffer.concat([control(11, items.length), ...items]);
}

export function writeCountryMmdb(file: string, networks: Record<string, string>): void {
  // Data section: one record per country.
  const dataOffsets = new Map<string, number>();
  const data: Buffer[] = [];
  let dataLength = 0;
  for (const iso of new Set(Object.values(networks))) {
    dataOffsets.set(iso, dataLength);
    const record = map([['country', map([['iso_code', string(iso)]])]]);
    data.push(record);
    dataLength += record.length;
  }
  // Search tree: a binary trie over the 32 bits of IPv4; leaves point into the data section.
  type Node = { left: number | Node | undefined; right: number | Node | undefined };
  const root: Node = { left: undefined, right: undefined };
  for (const [cidr, iso] of Object.entries(networks)) {
    const [address, bitsText] = cidr.split('/');
    const bits = Number(bitsText);
    const value = address.split('.').reduce((acc, octet) => (acc << 8) | Number(octet), 0) >>> 0;
    let node = root;
    for (let depth = 0; depth < bits; depth++) {
      const side = (value >>> (31 - depth)) & 1 ? 'right' : 'left';
      if (depth === bits - 1) {
        node[side] = dataOffsets.get(iso)!;
      } else {
        if (typeof node[side] !== 'object') node[side] = { left: undefined, right: undefined };
        node = node[side] as Node;
      }
    }
  }
  const nodes: Node[] = [];
  const index = new Map<Node, number>();
  const visit = (node: Node) => {
    index.set(node, nodes.length);
    nodes.push(node);
    for (const child of [node.left, node.right]) if (typeof child === 'object') visit(child);
  };
  visit(root);
  const nodeCount = nodes.length;
  const recordOf = (child: number | Node | undefined) =>
    child === undefined ? nodeCount : typeof child === 'object' ? index.get(child)! : nodeCount + 16 + child;
  const tree = Buffer.alloc(nodeCount * 6);
  nodes.forEach((node, i) => {
    tree.writeUIntBE(recordOf(node.left), i * 6, 3);
    tree.writeUIntBE(recordOf(node.right), i * 6 + 3, 3);
  });
  const metadata = map([
    ['binary_format_major_version', unsigned(5, 2)],
    ['binary_format_minor_version', unsigned(5, 0)],
    ['build_epoch', unsigned(9, Math.floor(Date.now() / 1000))],
    ['database_type', string('GeoIP2-Country-Test')],
    ['description', map([['en', string('jwt-defense test database')]])],
    ['ip_version', unsigned(5, 4)],
    ['languages', array([string('en')])],
    ['node_count', unsigned(6, nodeCount)],
    ['record_size', unsigned(5, 24)],
  ]);
  writeFileSync(file, Buffer.concat([tree, Buffer.alloc(16), ...data, Buffer.from('abcdef4d61784d696e642e636f6d', 'hex'), metadata]));
}

/** An image's lineage as a tree: its ancestors from the root down, itself, then its children. */

const link = (name: string) => <a href={`#/images/${encodeURIComponent(name)}`}>{name}</a>;

/** `ancestors` nearest first, as the API answers them; `children` the images made from this one. */
export function Lineage({
  name,
  ancestors,
  children,
}: {
  name: string;
  ancestors: string[];
  children: string[];
}) {
  const chain = [...ancestors].reverse();
  const here = (
    <li class="lineage-here">
      <strong>{name}</strong>
      {children.length ? (
        <ul>
          {children.map((c) => (
            <li key={c} data-child={c}>
              {link(c)}
            </li>
          ))}
        </ul>
      ) : null}
    </li>
  );
  const tree = chain.reduceRight<preact.JSX.Element>(
    (inner, a) => (
      <li data-ancestor={a}>
        {link(a)}
        <ul>{inner}</ul>
      </li>
    ),
    here,
  );
  return (
    <ul class="lineage" id="lineage">
      {tree}
    </ul>
  );
}

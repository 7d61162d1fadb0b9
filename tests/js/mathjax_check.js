// Typeset TeX with MathJax 3 (mathjax-full) the way a MathJax blog page does, and report every
// formula that fails: an unknown macro, an unbalanced brace, a misplaced '&', ... .
// Input on stdin: a JSON array of {"id": ..., "tex": ..., "display": true|false}.
// Output on stdout: a JSON array of {"id": ..., "error": message} (empty when all render).
// Usage: NODE_PATH=<folder with node_modules> node mathjax_check.js < formulas.json
const {mathjax} = require('mathjax-full/js/mathjax.js');
const {TeX} = require('mathjax-full/js/input/tex.js');
const {liteAdaptor} = require('mathjax-full/js/adaptors/liteAdaptor.js');
const {RegisterHTMLHandler} = require('mathjax-full/js/handlers/html.js');
const {AllPackages} = require('mathjax-full/js/input/tex/AllPackages.js');
const {STATE} = require('mathjax-full/js/core/MathItem.js');

// Every extension a page can autoload, but not the two that hide errors: with 'noundefined' an
// unknown macro would render in red instead of failing, with 'noerrors' a syntax error would too
// ('bussproofs', proof trees, needs an output jax to measure boxes; nothing here uses it).
const packages = AllPackages.filter((p) => !['noundefined', 'noerrors', 'bussproofs'].includes(p));
const adaptor = liteAdaptor();
RegisterHTMLHandler(adaptor);
const tex = new TeX({packages, formatError: (jax, err) => { throw err; }});
const doc = mathjax.document('', {InputJax: tex});

function hasErrorNode(node) {
  if (!node) return false;
  if (node.kind === 'merror') return true;
  return (node.childNodes || []).some(hasErrorNode);
}

let input = '';
process.stdin.on('data', (chunk) => { input += chunk; });
process.stdin.on('end', () => {
  const failures = [];
  for (const item of JSON.parse(input)) {
    try {
      const root = doc.convert(item.tex, {display: item.display !== false, end: STATE.CONVERT});
      if (hasErrorNode(root)) failures.push({id: item.id, error: 'error node in the output'});
    } catch (err) {
      failures.push({id: item.id, error: String(err.message || err)});
    }
  }
  process.stdout.write(JSON.stringify(failures));
});

/* The single-comparison page (analysis --html): mount the graph view on the embedded data. */
(function () {
  'use strict';
  const data = JSON.parse(document.getElementById('comparison-data').textContent);
  const view = LarGraph.mountPage(document.getElementById('graph'), data, {
    onDone: () => { document.body.dataset.drawn = 'yes'; },
  });
  for (const a of document.querySelectorAll('[data-goto]')) {
    a.addEventListener('click', (ev) => {
      ev.preventDefault();
      const id = Number(a.dataset.goto);
      view.centre(id);
      view.select(id);
    });
  }
})();

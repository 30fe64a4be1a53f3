"""report.html: one self-contained page (inline CSS, JS and SVG; nothing from the network).

The page embeds report.json's data and draws, per comparison, the error of each
var along execution order on a log scale with the tolerance line and the roots
marked, plus a device x check matrix.
"""

from __future__ import annotations

import html
import json
from pathlib import Path

from controller.checks.result import CampaignReport
from controller.report.json import report_json
from controller.store import write_atomic

_CSS = """
body{font:14px system-ui,sans-serif;margin:1.5em;color:#222}
h1{font-size:1.4em} h2{font-size:1.15em;margin-top:1.6em}
table{border-collapse:collapse;margin:.5em 0} td,th{border:1px solid #ccc;padding:.25em .6em;text-align:left}
td.ok{background:#dfd} td.differs{background:#fdd} td.skipped{background:#ffd} td.none{color:#999}
.chart{margin:.4em 0 1.2em} .note{color:#555} .unhealthy{color:#b00}
svg text{font-size:10px}
"""

_JS = r"""
(function(){
const R = JSON.parse(document.getElementById('report-data').textContent);
const NS='http://www.w3.org/2000/svg';
function el(tag, attrs, parent, text){const e=document.createElementNS(NS,tag);
  for(const k in attrs) e.setAttribute(k, attrs[k]); if(text!==undefined) e.textContent=text;
  if(parent) parent.appendChild(e); return e;}
function num(x){return x==='inf'?Infinity:x;}
function amp(x){return x===null?'-':(x==='inf'?'new':'x'+Number(x).toPrecision(3));}
// device x check matrix
const m=document.getElementById('matrix');
const kinds=R.checks_asked; const head=m.insertRow(); head.insertCell().outerHTML='<th>device</th>';
kinds.forEach(k=>{const th=document.createElement('th'); th.textContent=k; head.appendChild(th);});
R.devices.forEach(d=>{const row=m.insertRow(); row.dataset.device=d.name;
  const c0=row.insertCell(); c0.textContent=d.name+(d.healthy?'':' (unhealthy)');
  kinds.forEach(k=>{const cell=row.insertCell(); cell.dataset.check=k;
    const mine=R.checks.filter(c=>c.kind===k && c.devices.indexOf(d.name)>=0);
    let st='none'; if(mine.length){st=mine.some(c=>c.status==='differs')?'differs':(mine.every(c=>c.status==='skipped')?'skipped':'ok');}
    cell.className=st; cell.textContent=st==='none'?'-':st+(st==='differs'?' ('+Math.max.apply(null,mine.map(c=>c.differing.length))+')':'');});});
// one row per check: what the terminal summary shows
const st=document.getElementById('summary');
st.innerHTML='<tr><th>check</th><th>devices</th><th>status</th><th>differing</th><th>first var</th><th>roots</th><th>threshold</th><th>note</th></tr>';
R.checks.forEach(c=>{const row=st.insertRow(); row.dataset.kind=c.kind; row.className='check-row';
  const first=c.first===null?'-':'var'+c.first+(c.first_opr?' '+c.first_opr.type:'');
  const roots=c.roots.map(r=>'var'+r.id+' '+r.type).join(', ')||'-';
  [c.kind,c.devices.join(' vs '),c.status,c.differing.length,first,roots,c.threshold===null?'-':Number(c.threshold).toPrecision(3),c.note]
    .forEach((v,i)=>{const cell=row.insertCell(); cell.textContent=String(v); if(i===2) cell.className=c.status;});});
// per comparison charts
const host=document.getElementById('checks');
R.checks.forEach((c,ci)=>{c.comparisons.forEach((cmp,k)=>{
  const A=cmp.analysis; // what python -m analysis --json prints for this pair
  const sec=document.createElement('section'); sec.className='check'; sec.dataset.kind=c.kind;
  const h=document.createElement('h2'); h.textContent=c.kind+': '+cmp.label+' - '+c.status; sec.appendChild(h);
  const p=document.createElement('p'); p.className='note';
  const cut=A.threshold?A.threshold.cut:null;
  p.textContent=A.differing.length+' of '+A.stats.compared+' vars over tolerance '+c.tolerance+
    (A.first!==null?'; first var '+A.first:'')+(cut!==null?'; suggested threshold '+Number(cut).toPrecision(3):'');
  sec.appendChild(p);
  const W=760,H=220,L=50,B=30,T=10; const pts=A.vars.filter(v=>v.input_index===null&&v.max_err!==null).map(v=>[v.var_id,v.max_err]);
  const byId={}; A.vars.forEach(v=>{if(v.input_index===null) byId[v.var_id]=v;});
  const svg=el('svg',{width:W,height:H,viewBox:'0 0 '+W+' '+H,class:'chart'},sec);
  const pos=pts.map(q=>num(q[1])).filter(e=>e>0&&isFinite(e));
  let lo=Math.min(c.tolerance, ...(pos.length?pos:[c.tolerance]))/10, hi=Math.max(c.tolerance, ...(pos.length?pos:[c.tolerance]))*10;
  lo=Math.pow(10,Math.floor(Math.log10(lo))); hi=Math.pow(10,Math.ceil(Math.log10(hi)));
  // exact vars (error 0) sit on the axis, below the lowest decade; inf at the top
  const y=e=>{if(!(e>0))return H-B; if(!isFinite(e))return T; return T+(H-B-T-14)*(1-(Math.log10(e)-Math.log10(lo))/(Math.log10(hi)-Math.log10(lo)));};
  const x=i=>L+(W-L-10)*(pts.length>1?i/(pts.length-1):0.5);
  el('line',{x1:L,y1:H-B,x2:W-10,y2:H-B,stroke:'#999'},svg); el('line',{x1:L,y1:T,x2:L,y2:H-B,stroke:'#999'},svg);
  for(let d=Math.log10(lo); d<=Math.log10(hi); d++){el('text',{x:2,y:y(Math.pow(10,d))+3},svg,'1e'+d);}
  el('text',{x:2,y:H-B+3},svg,'exact');
  el('line',{x1:L,y1:y(c.tolerance),x2:W-10,y2:y(c.tolerance),stroke:'#c00','stroke-dasharray':'4 3',class:'tolerance'},svg);
  el('text',{x:W-80,y:y(c.tolerance)-3,fill:'#c00'},svg,'tolerance');
  el('text',{x:L+4,y:H-6,fill:'#555'},svg,'vars in execution order ('+pts.length+')');
  const roots=new Set(A.roots);
  let path=''; pts.forEach((q,i)=>{path+=(i?'L':'M')+x(i).toFixed(1)+' '+y(num(q[1])).toFixed(1);});
  el('path',{d:path,fill:'none',stroke:'#36c'},svg);
  pts.forEach((q,i)=>{const e=num(q[1]); const isRoot=roots.has(q[0]);
    const dot=el('circle',{cx:x(i),cy:y(e),r:isRoot?5:2.5,fill:isRoot?'#c00':(e>c.tolerance?'#e80':'#36c'),class:isRoot?'root':'var'},svg);
    el('title',{},dot,'var'+q[0]+' err='+q[1]+(isRoot?' (root)':''));
    if(isRoot) el('text',{x:x(i)+6,y:y(e)-6,fill:'#c00',class:'root-label'},svg,'var'+q[0]);});
  if(A.roots.length){const t=document.createElement('table'); t.className='roots';
    t.innerHTML='<tr><th>root var</th><th>opr type</th><th>opr</th><th>err</th><th>amplification</th></tr>';
    A.roots.forEach(id=>{const r=byId[id]||{}; const row=t.insertRow(); row.dataset.root=id;
      [id,r.opr_type,r.opr_name,r.max_err,amp(A.amplification[String(id)]===undefined?null:A.amplification[String(id)])].forEach(v=>{row.insertCell().textContent=String(v);});});
    sec.appendChild(t);}
  host.appendChild(sec);});});
document.body.dataset.drawn='yes';
})();
"""


def render_html(report: CampaignReport) -> str:
    """The report page as one string."""
    data = json.dumps(report_json(report)).replace("</", "<\\/")
    unhealthy = "".join(
        f"<li class='unhealthy'>{html.escape(d.name)} ({html.escape(d.address)}): {html.escape(d.reason)}</li>"
        for d in report.unhealthy
    )
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>larfarm report: {html.escape(report.campaign)}</title>
<style>{_CSS}</style></head>
<body>
<h1>larfarm campaign {html.escape(report.campaign)}</h1>
<p>model {html.escape(report.model)}, tolerance {report.tolerance:g}, {len(report.devices)} devices,
result: <b id="verdict">{"differences found" if report.differs else "within tolerance"}</b></p>
{"<h2>Unhealthy devices</h2><ul>" + unhealthy + "</ul>" if unhealthy else ""}
<h2>Device x check</h2>
<table id="matrix"></table>
<h2>Checks</h2>
<table id="summary"></table>
<div id="checks"></div>
<script type="application/json" id="report-data">{data}</script>
<script>{_JS}</script>
</body></html>
"""


def write_report_html(report: CampaignReport, path: Path) -> Path:
    """Write report.html atomically."""
    write_atomic(path, render_html(report).encode("utf-8"))
    return path

// The live page's HTML (one file, no dependencies): polls /api/state every 250 ms.
export const PAGE = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Warren lab</title>
<style>
body{font-family:sans-serif;margin:16px;color:#222}
h1{font-size:18px;margin:0 0 8px}
#topo{display:grid;grid-template-columns:repeat(3,1fr);gap:10px;max-width:980px}
.host{border:2px solid #999;border-radius:6px;padding:8px;background:#fafafa}
.host.running{border-color:#27ae60;background:#eefaf1}
.host.down{border-color:#c0392b;background:#fdecea}
.host.hung{border-color:#e67e22;background:#fff4e6}
.host.cut{border-style:dashed}
.host h2{font-size:15px;margin:0 0 4px}
.vip{background:#8e44ad;color:#fff;border-radius:4px;padding:1px 6px;font-size:12px}
.small{font-size:12px;color:#555}
.UP{color:#27ae60;font-weight:bold}.DOWN{color:#c0392b;font-weight:bold}.MAINT{color:#e67e22}
button{font-size:11px;margin:2px 2px 0 0}
table{border-collapse:collapse;margin-top:12px;font-size:13px}td,th{border:1px solid #ccc;padding:3px 8px}
#events{font-size:12px;font-family:monospace;max-height:320px;overflow:auto;border:1px solid #ccc;padding:6px;max-width:960px;margin-top:12px}
.ev-fault{color:#c0392b}.ev-vrrp,.ev-vip{color:#8e44ad}.ev-proxy{color:#d35400}.ev-queue,.ev-cluster{color:#2c3e50}
</style></head><body>
<h1>Warren lab <span id="mode" class="small"></span> <span id="vipline" class="small"></span></h1>
<div id="topo"></div>
<table id="queues"><thead><tr><th>queue</th><th>master</th><th>mirrors (synchronised)</th><th>messages</th><th>publish/s</th><th>deliver/s</th></tr></thead><tbody id="qbody"></tbody></table>
<div id="events"></div>
<script>
const order=['rabbitmq01','rabbitmq02','rabbitmq03','haproxy01','haproxy02','client'];
async function act(host,action){await fetch('/api/action',{method:'POST',body:JSON.stringify({host,action})});}
function esc(s){return String(s).replace(/[&<>]/g,c=>({'&':'&amp;','<':'&lt;','>':'&gt;'}[c]));}
function hostState(h){const v=Object.values(h.procs);if(v.length===0)return 'running';if(v.includes('down'))return 'down';if(v.includes('hung'))return 'hung';return 'running';}
async function refresh(){
  let s;try{s=await (await fetch('/api/state',{cache:'no-store'})).json();}catch(e){return;}
  document.getElementById('mode').textContent='('+s.mode+')';
  document.getElementById('vipline').textContent=s.vip?('virtual IP '+s.vip+': '+(s.vipHolder||'nobody')):'no virtual IP (loopback lab: VRRP needs root)';
  set('topo',order.map(n=>s.hosts.find(h=>h.name===n)).filter(Boolean).map(h=>{
    const st=hostState(h);
    let body='<div class="small">'+esc(h.addr)+(h.type?' · '+esc(h.type)+' node':'')+'</div>';
    body+='<div class="small">'+Object.entries(h.procs).map(([k,v])=>esc(k)+': <b data-proc="'+esc(k)+'">'+esc(v)+'</b>').join(', ')+'</div>';
    if(h.role==='broker'&&h.clusterRunning!==undefined)body+='<div class="small">cluster: '+(h.clusterRunning?'running':'not running')+(h.partitions&&h.partitions.length?' · partitioned from '+esc(h.partitions.join(',')):'')+'</div>';
    if(h.role==='lb'){body+='<div class="small">VRRP: '+esc(h.vrrp||'-')+(s.vipHolder===h.name?' <span class="vip">VIP</span>':'')+'</div>';
      body+='<div class="small">backends: '+(h.backends?Object.entries(h.backends).map(([k,v])=>esc(k)+' <span class="'+esc(v)+'">'+esc(v)+'</span>').join(' '):'no answer')+'</div>';}
    const btn=(a)=>'<button data-host="'+h.name+'" data-action="'+a+'">'+a+'</button>';
    if(h.role!=='client')body+='<div>'+['kill','hang','resume','restart'].map(btn).join('')+(s.mode==='netns'?btn(h.cut?'uncut':'cut'):'')+'</div>';
    return '<div class="host '+st+(h.cut?' cut':'')+'" id="host-'+h.name+'" data-state="'+st+'"><h2>'+esc(h.name)+(h.cut?' (cut off)':'')+'</h2>'+body+'</div>';
  }).join(''));
  // when each host's state last changed on the page (data-since, epoch ms): what the tests measure
  for(const h of s.hosts){const st=hostState(h)+(h.cut?'/cut':'');if(lastState[h.name]!==st){lastState[h.name]=st;since[h.name]=Date.now();}
    const el=document.getElementById('host-'+h.name);if(el)el.dataset.since=String(since[h.name]);}
  set('qbody',s.queues.map(q=>'<tr><td>'+esc(q.name)+'</td><td>'+esc(q.node)+'</td><td>'+esc(q.mirrors.join(', '))+' ('+esc(q.synced.join(', '))+')</td><td>'+q.messages+'</td><td>'+q.publishRate+'</td><td>'+q.deliverRate+'</td></tr>').join(''));
  set('events',s.events.slice().reverse().map(e=>'<div class="ev-'+esc(e.kind)+'">'+new Date(e.t).toISOString().slice(11,23)+' '+esc(e.text)+'</div>').join(''));
}
// an element is rewritten only when its content changed: the buttons stay the same elements between looks
const shown={},lastState={},since={};
function set(id,html){if(shown[id]===html)return;shown[id]=html;document.getElementById(id).innerHTML=html;}
document.addEventListener('click',e=>{const b=e.target.closest('button[data-action]');if(b)act(b.dataset.host,b.dataset.action).then(refresh);});
setInterval(refresh,250);refresh();
</script></body></html>
`;

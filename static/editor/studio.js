// Aleph Studio: small progressive enhancements. Every page works without this file.
(function () {
  "use strict";

  // Live character counter for the prompt.
  function initCounters(root) {
    root.querySelectorAll("[data-counter-for]").forEach(function (counter) {
      var field = document.getElementById(counter.dataset.counterFor);
      if (!field || field.dataset.counted) return;
      field.dataset.counted = "1";
      var update = function () { counter.textContent = field.value.length; };
      field.addEventListener("input", update);
      update();
    });
  }

  // Drag and drop onto the upload zone, and show the chosen file's name.
  function initDropzones(root) {
    root.querySelectorAll("[data-dropzone]").forEach(function (zone) {
      var input = document.getElementById(zone.getAttribute("for"));
      var name = zone.querySelector("[data-dropzone-name]");
      if (!input || zone.dataset.ready) return;
      zone.dataset.ready = "1";
      var show = function () { if (name) name.textContent = input.files.length ? input.files[0].name : ""; };
      input.addEventListener("change", show);
      ["dragenter", "dragover"].forEach(function (type) {
        zone.addEventListener(type, function (e) { e.preventDefault(); zone.classList.add("over"); });
      });
      ["dragleave", "drop"].forEach(function (type) {
        zone.addEventListener(type, function (e) { e.preventDefault(); zone.classList.remove("over"); });
      });
      zone.addEventListener("drop", function (e) {
        if (e.dataTransfer && e.dataTransfer.files.length) { input.files = e.dataTransfer.files; show(); }
      });
    });
  }

  // Upload progress: htmx reports XHR upload progress on the form.
  document.addEventListener("htmx:xhr:progress", function (e) {
    var bar = document.getElementById("upload-progress");
    var label = document.getElementById("upload-progress-label");
    if (!bar || !e.detail.lengthComputable) return;
    var percent = Math.round((e.detail.loaded / e.detail.total) * 100);
    bar.hidden = false;
    bar.value = percent;
    if (label) label.textContent = percent < 100 ? "Uploading… " + percent + " %" : "Checking the clip…";
  });

  // "Use paused frame as reference": send the source video's current time.
  function initFrameGrab(root) {
    root.querySelectorAll("[data-frame-grab]").forEach(function (form) {
      form.addEventListener("submit", function () {
        var video = document.getElementById("source-video");
        var field = form.querySelector("[data-frame-time]");
        if (video && field) field.value = video.currentTime.toFixed(3);
      });
    });
  }

  // Compare player: two videos driven by one set of controls, side by side or with a wipe.
  function initCompare(root) {
    root.querySelectorAll("[data-compare]").forEach(function (box) {
      if (box.dataset.ready) return;
      box.dataset.ready = "1";
      var a = box.querySelector('video[data-role="a"]');
      var b = box.querySelector('video[data-role="b"]');
      var heat = box.querySelector('video[data-role="heat"]');
      var heatToggle = box.querySelector('[data-role="heat-toggle"]');
      var seek = box.querySelector('[data-role="seek"]');
      var time = box.querySelector('[data-role="time"]');
      var loop = box.querySelector('[data-role="loop"]');
      var mute = box.querySelector('[data-role="mute"]');
      var mode = box.querySelector('[data-role="mode"]');
      var wipe = box.querySelector('[data-role="wipe"]');
      var playButton = box.querySelector('[data-action="play"]');
      var fpsNode = document.getElementById("compare-fps");
      var fps = fpsNode ? parseFloat(fpsNode.textContent) || 25 : 25;
      var seeking = false;

      var duration = function () { return Math.min(a.duration || Infinity, b.duration || Infinity); };
      var sync = function () {
        if (Math.abs(a.currentTime - b.currentTime) > 0.5 / fps) a.currentTime = b.currentTime;
        if (heat && Math.abs(heat.currentTime - b.currentTime) > 0.5 / fps) heat.currentTime = b.currentTime;
        if (heat && !b.paused && heat.paused) heat.play().catch(function () {});
        if (heat && b.paused && !heat.paused) heat.pause();
      };
      var setTime = function (t) {
        var d = duration();
        if (!isFinite(d)) return;
        t = Math.max(0, Math.min(t, d - 0.001));
        a.currentTime = t;
        b.currentTime = t;
        if (heat) heat.currentTime = t;
        render();
      };
      var current = null;
      var followComments = function () {
        // The comment form takes the paused frame's time; the list marks the comment at the playhead.
        var t = b.currentTime;
        document.querySelectorAll("[data-comment-time]").forEach(function (el) { el.value = t.toFixed(3); });
        document.querySelectorAll("[data-comment-at]").forEach(function (el) {
          var m = Math.floor(t / 60);
          el.textContent = (m < 10 ? "0" : "") + m + ":" + (t % 60 < 10 ? "0" : "") + (t % 60).toFixed(2);
        });
        var at = null;
        document.querySelectorAll("[data-comment]").forEach(function (el) {
          if (parseFloat(el.dataset.seconds) <= t + 0.5 / fps) at = el;
        });
        if (at !== current) {
          if (current) current.classList.remove("current");
          if (at) { at.classList.add("current"); if (!b.paused) at.scrollIntoView({ block: "nearest" }); }
          current = at;
        }
      };
      box.addEventListener("studio:seek", function (e) {
        a.pause(); b.pause();
        setTime(e.detail);
      });
      var render = function () {
        var d = duration();
        followComments();
        if (time) time.textContent = b.currentTime.toFixed(2) + " s" + (isFinite(d) ? " / " + d.toFixed(2) + " s" : "");
        if (seek && !seeking && isFinite(d) && d > 0) seek.value = Math.round((b.currentTime / d) * 1000);
        if (playButton) playButton.textContent = b.paused ? "Play" : "Pause";
      };
      var toggle = function () {
        if (b.paused) { sync(); Promise.all([a.play(), b.play()]).catch(function () {}); }
        else { a.pause(); b.pause(); sync(); }
        render();
      };
      var step = function (frames) {
        a.pause(); b.pause();
        setTime(b.currentTime + frames / fps);
      };
      var tick = function () {
        if (!b.paused) sync();
        render();
        window.requestAnimationFrame(tick);
      };
      b.addEventListener("ended", function () {
        if (loop && loop.checked) { setTime(0); a.play(); b.play(); } else { a.pause(); render(); }
      });
      a.addEventListener("ended", function () { if (!b.paused && loop && !loop.checked) a.pause(); });
      box.querySelector('[data-action="play"]').addEventListener("click", toggle);
      box.querySelector('[data-action="prev"]').addEventListener("click", function () { step(-1); });
      box.querySelector('[data-action="next"]').addEventListener("click", function () { step(1); });
      if (seek) {
        seek.addEventListener("input", function () { seeking = true; setTime((seek.value / 1000) * duration()); });
        seek.addEventListener("change", function () { seeking = false; });
      }
      var applyMute = function () { b.muted = mute.checked; a.muted = true; };
      if (mute) mute.addEventListener("change", applyMute);
      var applyMode = function () {
        box.dataset.mode = mode.value;
        applyWipe();
      };
      var applyWipe = function () {
        var pane = box.querySelector(".pane-b");
        pane.style.clipPath = box.dataset.mode === "wipe" ? "inset(0 0 0 " + wipe.value + "%)" : "";
      };
      if (mode) mode.addEventListener("change", applyMode);
      if (wipe) wipe.addEventListener("input", applyWipe);
      var applyHeat = function () { if (heat) { heat.hidden = !heatToggle.checked; sync(); } };
      if (heatToggle) heatToggle.addEventListener("change", applyHeat);
      document.addEventListener("keydown", function (e) {
        var tag = (e.target.tagName || "").toLowerCase();
        if (tag === "input" && e.target.type !== "range" && e.target.type !== "checkbox") return;
        if (tag === "textarea" || tag === "select" || e.ctrlKey || e.metaKey || e.altKey) return;
        if (e.key === " ") { e.preventDefault(); toggle(); }
        else if (e.key === ",") { e.preventDefault(); step(-1); }
        else if (e.key === ".") { e.preventDefault(); step(1); }
        else if (e.key === "l" || e.key === "L") { loop.checked = !loop.checked; }
        else if (e.key === "m" || e.key === "M") { mute.checked = !mute.checked; applyMute(); }
        else if (e.key === "w" || e.key === "W") { mode.value = mode.value === "wipe" ? "side" : "wipe"; applyMode(); }
        else if ((e.key === "h" || e.key === "H") && heatToggle) { heatToggle.checked = !heatToggle.checked; applyHeat(); }
      });
      applyMute();
      applyMode();
      window.requestAnimationFrame(tick);
    });
  }

  function init(root) {
    initCounters(root);
    initDropzones(root);
    initFrameGrab(root);
    initCompare(root);
  }
  document.addEventListener("DOMContentLoaded", function () { init(document); });
  document.addEventListener("htmx:load", function (e) { init(e.target); });
})();

// A comment's time (in the list or on the timeline) seeks the compare player to its frame.
document.addEventListener("click", function (e) {
  var target = e.target.closest && e.target.closest("[data-seek]");
  if (!target) return;
  var player = document.querySelector("[data-compare]");
  var single = document.querySelector("video.shared-video");
  if (player) player.dispatchEvent(new CustomEvent("studio:seek", { detail: parseFloat(target.dataset.seek) }));
  else if (single) { single.pause(); single.currentTime = parseFloat(target.dataset.seek); }
});

// A shared page with one player: the guest's comment takes the player's time.
document.addEventListener("DOMContentLoaded", function () {
  var single = document.querySelector("video.shared-video");
  if (!single || document.querySelector("[data-compare]")) return;
  var follow = function () {
    var t = single.currentTime;
    document.querySelectorAll("[data-comment-time]").forEach(function (el) { el.value = t.toFixed(3); });
    document.querySelectorAll("[data-comment-at]").forEach(function (el) {
      var m = Math.floor(t / 60);
      el.textContent = (m < 10 ? "0" : "") + m + ":" + (t % 60 < 10 ? "0" : "") + (t % 60).toFixed(2);
    });
  };
  ["timeupdate", "seeked", "pause"].forEach(function (name) { single.addEventListener(name, follow); });
});

// Ask before destructive actions (the form still posts without JavaScript).
document.addEventListener("submit", function (e) {
  var form = e.target;
  if (form.dataset && form.dataset.confirm && !window.confirm(form.dataset.confirm)) e.preventDefault();
});

// Done notifications: while the page is open, a finished edit bumps a count in the tab title
// and, if the user allowed it, shows a browser notification. The status poll that finds an edit
// finished says so with an "edit-finished" event (HX-Trigger), in the same response as its card.
(function () {
  "use strict";
  var baseTitle = document.title;
  var unseen = 0;

  function showCount() {
    document.title = unseen ? "(" + unseen + ") " + baseTitle : baseTitle;
  }
  document.addEventListener("visibilitychange", function () {
    if (!document.hidden) { unseen = 0; showCount(); }
  });
  document.addEventListener("edit-finished", function (e) {
    var edit = e.detail || {};
    unseen += 1;
    showCount();
    if ("Notification" in window && Notification.permission === "granted") {
      var title = edit.status === "succeeded" ? "Edit finished" : "Edit " + String(edit.status || "").replace("_", " ");
      new Notification(title, { body: edit.prompt || "" });
    }
  });
  document.addEventListener("click", function (e) {
    var button = e.target.closest && e.target.closest("[data-enable-notifications]");
    if (!button || !("Notification" in window)) return;
    Notification.requestPermission().then(function (p) {
      button.textContent = p === "granted" ? "Notifications on" : "Notifications blocked";
      button.disabled = p === "granted";
    });
  });
  document.addEventListener("DOMContentLoaded", function () {
    var button = document.querySelector("[data-enable-notifications]");
    if (!button) return;
    if (!("Notification" in window)) { button.hidden = true; return; }
    if (Notification.permission === "granted") { button.textContent = "Notifications on"; button.disabled = true; }
  });
})();

// "Copy recipe": put an edit's settings on the clipboard as JSON.
document.addEventListener("click", function (e) {
  var button = e.target.closest && e.target.closest("[data-copy-recipe]");
  if (!button) return;
  var text = button.dataset.copyRecipe;
  var done = function () { button.textContent = "Recipe copied"; setTimeout(function () { button.textContent = "Copy recipe"; }, 2000); };
  if (navigator.clipboard && window.isSecureContext) navigator.clipboard.writeText(text).then(done, function () { window.prompt("Copy the recipe:", text); });
  else window.prompt("Copy the recipe:", text);
});

// Remote engines: show model and trim only when a remote engine is chosen, offer only the models
// that engine has, and only the controls the chosen model takes: its framings and ratios, seed,
// moderation, output formats, length, resolution, sound, mode, reference videos and keyframe times
// (the model catalogue comes from the server as JSON). The trim slider seeks the source video so
// the user sees where the sent window starts.
document.addEventListener("DOMContentLoaded", function () {
  var form = document.getElementById("edit-form");
  var facts = document.getElementById("model-catalog");
  if (!form) return;
  var catalog = facts ? JSON.parse(facts.textContent) : { models: {}, providers: {}, local_ratios: [] };
  var engine = form.querySelector("[name=engine]");
  var remote = form.querySelectorAll("[data-remote-only]");
  var local = form.querySelectorAll("[data-local-only]");
  var slider = form.querySelector("[data-trim-slider]");
  var input = form.querySelector("[data-trim-input]");
  var video = document.getElementById("source-video");
  var model = form.querySelector("[name=model]");
  var framing = form.querySelector("[name=framing]");
  var format = form.querySelector("[name=output_format]");
  var counter = form.querySelector("[data-counter-for]");
  var show = function (name, on) {
    form.querySelectorAll('[data-model-control="' + name + '"]').forEach(function (el) { el.hidden = !on; });
  };
  var toggle = function () {
    var isRemote = engine && engine.value !== "local";
    remote.forEach(function (el) { el.hidden = !isRemote; });
    local.forEach(function (el) { el.hidden = isRemote; });
    if (isRemote && model) {
      var offered = catalog.providers[engine.value] || [];
      Array.prototype.forEach.call(model.options, function (option) {
        option.hidden = option.disabled = offered.indexOf(option.value) < 0;
      });
      if (model.selectedOptions.length && model.selectedOptions[0].disabled && offered.length) model.value = offered[0];
    }
    var spec = isRemote && model ? catalog.models[model.value] : null;
    form.querySelectorAll("[data-keyframe-only]").forEach(function (el) { el.hidden = !(spec && spec.keyframes > 0); });
    var ratios = catalog.local_ratios || [];
    if (spec) {
      if (framing) {
        Array.prototype.forEach.call(framing.options, function (option) {
          option.hidden = option.disabled = spec.framings.indexOf(option.value) < 0;
        });
        if (spec.framings.indexOf(framing.value) < 0) framing.value = spec.framings[0];
      }
      ratios = spec.ratios[framing ? framing.value : spec.framings[0]] || [];
    }
    show("framings", Boolean(spec && spec.framings.length > 1));
    var picker = form.querySelector("[data-ratio-picker]");
    if (picker) picker.hidden = ratios.length === 0;
    var checked = form.querySelector("[name=ratio]:checked");
    form.querySelectorAll("[data-ratio]").forEach(function (el) {
      var on = ratios.indexOf(el.dataset.ratio) >= 0;
      el.hidden = !on;
      el.querySelector("input").disabled = !on;
    });
    if (ratios.length && (!checked || ratios.indexOf(checked.value) < 0)) {
      var first = form.querySelector('[data-ratio="' + ratios[0] + '"] input');
      if (first) first.checked = true;
    }
    show("seed", !spec || spec.seed);
    show("moderation", !spec || spec.moderation);
    show("formats", Boolean(spec && spec.formats.length));
    show("prores", Boolean(spec && spec.formats.length && format && format.value === "prores"));
    show("modes", Boolean(spec && spec.modes.length));
    show("durations", Boolean(spec && spec.durations));
    show("resolutions", Boolean(spec && spec.resolutions.length));
    show("audio", Boolean(spec && spec.audio));
    show("reference_videos", Boolean(spec && spec.reference_videos > 0));
    if (counter) {
      var max = spec ? spec.prompt_max : 1000;
      counter.parentNode.lastChild.textContent = " / " + max;
    }
  };
  [engine, model, framing, format].forEach(function (el) { if (el) el.addEventListener("change", toggle); });
  toggle();

  // A batch of prompts: the estimate counts the prompt's non-empty lines (the prompt itself is never sent with it).
  var prompt = form.querySelector("[name=prompt]");
  var perLine = form.querySelector("[name=prompt_per_line]");
  var promptCount = form.querySelector("[name=prompt_count]");
  var countPrompts = function () {
    if (!promptCount || !prompt) return;
    var lines = prompt.value.split("\n").filter(function (l) { return l.trim(); }).length;
    promptCount.value = perLine && perLine.checked ? Math.max(1, lines) : 1;
  };
  if (prompt) prompt.addEventListener("input", countPrompts);
  if (perLine) perLine.addEventListener("change", countPrompts);
  countPrompts();

  // Keyframes on the trim bar: the part sent, each ticked keyframe's time and its edit window, in
  // the clip's own time (the keyframe times are counted from the start of the part sent).
  var marks = form.querySelector("[data-keyframe-marks]");
  var drawMarks = function () {
    if (!marks || !slider) return;
    marks.innerHTML = "";
    var spec = engine && engine.value !== "local" && model ? catalog.models[model.value] : null;
    var total = parseFloat(slider.max) || 0;
    if (!spec || !total) return;
    var start = parseFloat(input && input.value) || 0;
    var sent = Math.min(spec.window[1], total - start);
    var place = function (cls, from, to) {
      var el = document.createElement("span");
      el.className = cls;
      el.style.left = (100 * Math.max(0, Math.min(total, from)) / total) + "%";
      if (to !== undefined) el.style.width = (100 * Math.max(0, Math.min(total, to) - from) / total) + "%";
      marks.appendChild(el);
    };
    place("sent", start, start + sent);
    if (!spec.keyframes) return;
    form.querySelectorAll("input[name=references]:checked").forEach(function (box) {
      var pk = box.value;
      var pin = form.querySelector("[name=keyframe_pin_" + pk + "]");
      var value = parseFloat((form.querySelector("[name=keyframe_at_" + pk + "]") || {}).value);
      if (isNaN(value)) return;
      var t = pin && pin.value === "at" ? value * sent : value;
      var from = parseInt((form.querySelector("[name=keyframe_from_" + pk + "]") || {}).value, 10);
      var to = parseInt((form.querySelector("[name=keyframe_to_" + pk + "]") || {}).value, 10);
      if (!isNaN(from) && !isNaN(to) && to > from) place("window", start + from, start + to);
      place("mark", start + t);
    });
  };
  form.addEventListener("input", drawMarks);
  form.addEventListener("change", drawMarks);
  drawMarks();
  // "here": pin a keyframe at the source player's current time (in the part sent).
  form.addEventListener("click", function (e) {
    var here = e.target.closest && e.target.closest("[data-keyframe-here]");
    if (!here || !video) return;
    var pk = here.dataset.keyframeHere;
    var start = parseFloat(input && input.value) || 0;
    var pin = form.querySelector("[name=keyframe_pin_" + pk + "]");
    if (pin) pin.value = "seconds";
    var field = form.querySelector("[name=keyframe_at_" + pk + "]");
    if (field) field.value = Math.max(0, video.currentTime - start).toFixed(2);
    var box = form.querySelector("input[name=references][value='" + pk + "']");
    if (box) box.checked = true;
    drawMarks();
  });
  if (slider && input) {
    slider.addEventListener("input", function () {
      input.value = slider.value;
      if (video) { video.pause(); video.currentTime = parseFloat(slider.value); }
    });
    slider.addEventListener("change", function () { input.dispatchEvent(new Event("change", { bubbles: true })); });
    input.addEventListener("input", function () { slider.value = input.value; });
  }
});

// Mask painter: paint (or erase) over a paused frame; the mask itself is white on black at the
// clip's size and travels with the edit form as a PNG file (multipart, like any upload).
document.addEventListener("DOMContentLoaded", function () {
  var panel = document.querySelector("[data-mask-painter]");
  var view = panel && panel.querySelector("[data-mask-view]");
  var video = document.getElementById("source-video");
  var input = document.querySelector("[data-mask-input]");
  if (!panel || !view || !video || !input) return;
  var mask = document.createElement("canvas");
  mask.width = view.width; mask.height = view.height;
  var mctx = mask.getContext("2d");
  var vctx = view.getContext("2d");
  var size = panel.querySelector("[data-mask-size]");
  var state = panel.querySelector("[data-mask-state]");
  var painted = false, drawing = false, last = null;
  mctx.fillStyle = "#000"; mctx.fillRect(0, 0, mask.width, mask.height);

  var tool = function () { return panel.querySelector("input[name=mask-tool]:checked").value; };
  var redraw = function () {
    vctx.drawImage(video, 0, 0, view.width, view.height);
    // Show the painted area as a red overlay on the frame.
    var overlay = document.createElement("canvas");
    overlay.width = view.width; overlay.height = view.height;
    var octx = overlay.getContext("2d");
    octx.drawImage(mask, 0, 0);
    octx.globalCompositeOperation = "source-in";
    octx.fillStyle = "rgba(255, 40, 40, 0.55)";
    octx.fillRect(0, 0, overlay.width, overlay.height);
    var data = mctx.getImageData(0, 0, mask.width, mask.height);
    var tint = octx.getImageData(0, 0, overlay.width, overlay.height);
    for (var i = 0; i < data.data.length; i += 4) tint.data[i + 3] = data.data[i] > 127 ? 140 : 0;
    octx.putImageData(tint, 0, 0);
    vctx.drawImage(overlay, 0, 0);
  };
  var point = function (e) {
    var box = view.getBoundingClientRect();
    return { x: (e.clientX - box.left) * view.width / box.width, y: (e.clientY - box.top) * view.height / box.height };
  };
  var stroke = function (from, to) {
    var scale = view.width / view.getBoundingClientRect().width;
    mctx.strokeStyle = mctx.fillStyle = tool() === "brush" ? "#fff" : "#000";
    mctx.lineWidth = size.value * scale;
    mctx.lineCap = "round";
    mctx.beginPath(); mctx.moveTo(from.x, from.y); mctx.lineTo(to.x, to.y); mctx.stroke();
    if (tool() === "brush") painted = true;
  };
  var commit = function () {
    var pixels = mctx.getImageData(0, 0, mask.width, mask.height).data, any = false;
    for (var i = 0; i < pixels.length; i += 16) { if (pixels[i] > 127) { any = true; break; } }
    painted = any;
    state.textContent = any ? "Mask painted: it is sent with the next edit." : "No mask painted.";
    if (!any) { input.value = ""; return; }
    mask.toBlob(function (blob) {
      var files = new DataTransfer();
      files.items.add(new File([blob], "mask.png", { type: "image/png" }));
      input.files = files.files;
    }, "image/png");
  };
  view.addEventListener("pointerdown", function (e) {
    video.pause(); drawing = true; last = point(e); stroke(last, last); redraw(); view.setPointerCapture(e.pointerId);
  });
  view.addEventListener("pointermove", function (e) {
    if (!drawing) return;
    var p = point(e); stroke(last, p); last = p; redraw();
  });
  ["pointerup", "pointercancel"].forEach(function (type) {
    view.addEventListener(type, function () { if (drawing) { drawing = false; commit(); } });
  });
  panel.querySelector("[data-mask-clear]").addEventListener("click", function () {
    mctx.fillStyle = "#000"; mctx.fillRect(0, 0, mask.width, mask.height); commit(); redraw();
  });
  panel.addEventListener("toggle", function () { if (panel.open) { video.pause(); redraw(); } });
  video.addEventListener("seeked", function () { if (panel.open) redraw(); });
  document.addEventListener("keydown", function (e) {
    if (!panel.open || /input|textarea|select/i.test(e.target.tagName)) return;
    if (e.key === "b" || e.key === "B") panel.querySelector("input[value=brush]").checked = true;
    if (e.key === "e" || e.key === "E") panel.querySelector("input[value=eraser]").checked = true;
  });
});

// Contact sheet: the input and every finished result of a batch under one transport (the input's
// clock leads), and the keys an editor uses to go through takes: arrows move between cells, Enter
// opens a cell against the input, S stars it, 1–9 pick two cells for an A/B compare. Cells are
// swapped in by htmx as their edits finish, so videos are looked up afresh each time.
document.addEventListener("DOMContentLoaded", function () {
  var box = document.querySelector("[data-sheet]");
  if (!box) return;
  var grid = box.querySelector("[data-sheet-grid]");
  var seek = box.querySelector('[data-role="seek"]');
  var time = box.querySelector('[data-role="time"]');
  var loop = box.querySelector('[data-role="loop"]');
  var picksNote = box.querySelector('[data-role="picks"]');
  var playButton = box.querySelector('[data-action="play"]');
  var fpsNode = document.getElementById("sheet-fps");
  var fps = fpsNode ? parseFloat(fpsNode.textContent) || 25 : 25;
  var playing = false;
  var seeking = false;
  var picks = [];
  var videos = function () { return Array.prototype.slice.call(grid.querySelectorAll("video[data-sheet-video]")); };
  var master = function () { return grid.querySelector("video[data-master]") || videos()[0]; };
  var duration = function () {
    var d = Infinity;
    videos().forEach(function (v) { if (v.duration) d = Math.min(d, v.duration); });
    return d;
  };
  var setTime = function (t) {
    var d = duration();
    if (!isFinite(d)) return;
    t = Math.max(0, Math.min(t, d - 0.001));
    videos().forEach(function (v) { v.currentTime = t; });
  };
  var play = function (on) {
    playing = on;
    videos().forEach(function (v) { if (on) v.play().catch(function () {}); else v.pause(); });
    if (!on && master()) setTime(master().currentTime);
  };
  var step = function (frames) {
    play(false);
    if (master()) setTime(master().currentTime + frames / fps);
  };
  var tick = function () {
    var lead = master();
    if (lead) {
      var d = duration();
      if (playing) {
        if (isFinite(d) && lead.currentTime >= d - 0.05) {
          if (loop && loop.checked) setTime(0); else play(false);
        }
        videos().forEach(function (v) {
          if (v === lead) return;
          if (Math.abs(v.currentTime - lead.currentTime) > 0.5 / fps) v.currentTime = lead.currentTime;
          if (v.paused && playing) v.play().catch(function () {});
        });
      }
      if (time) time.textContent = lead.currentTime.toFixed(2) + " s" + (isFinite(d) ? " / " + d.toFixed(2) + " s" : "");
      if (seek && !seeking && isFinite(d) && d > 0) seek.value = Math.round((lead.currentTime / d) * 1000);
    }
    if (playButton) playButton.textContent = playing ? "Pause" : "Play";
    window.requestAnimationFrame(tick);
  };
  // Order the cells by what their change maps measured (unmeasured ones last); the input stays first.
  var order = box.querySelector('[data-role="order"]');
  var share = function (cell, key) {
    var span = cell.querySelector("[data-change]");
    var value = span ? parseFloat(span.dataset[key]) : NaN;
    return isNaN(value) ? null : value;
  };
  var reorder = function () {
    var all = Array.prototype.slice.call(grid.querySelectorAll("[data-cell]:not(.cell-input)"));
    var how = order ? order.value : "asked";
    all.sort(function (x, y) {
      if (how === "asked") return x.dataset.number - y.dataset.number;
      var key = how === "outside" ? "outside" : "changed";
      var a = share(x, key), b = share(y, key);
      if (a === null && b === null) return x.dataset.number - y.dataset.number;
      if (a === null) return 1;
      if (b === null) return -1;
      return how === "most" ? b - a : a - b;
    });
    all.forEach(function (cell) { grid.appendChild(cell); });
  };
  if (order) order.addEventListener("change", reorder);
  box.querySelector('[data-action="play"]').addEventListener("click", function () { play(!playing); });
  box.querySelector('[data-action="prev"]').addEventListener("click", function () { step(-1); });
  box.querySelector('[data-action="next"]').addEventListener("click", function () { step(1); });
  if (seek) {
    seek.addEventListener("input", function () { seeking = true; setTime((seek.value / 1000) * duration()); });
    seek.addEventListener("change", function () { seeking = false; });
  }
  // A cell that arrives while the sheet plays joins in at the input's time.
  document.addEventListener("htmx:load", function (e) {
    var v = e.target.querySelector && e.target.querySelector("video[data-sheet-video]");
    if (v && master()) {
      v.addEventListener("loadedmetadata", function () { v.currentTime = master().currentTime; if (playing) v.play().catch(function () {}); }, { once: true });
    }
  });
  var cells = function () { return Array.prototype.slice.call(grid.querySelectorAll("[data-cell]")); };
  var columns = function () {
    var all = cells();
    if (!all.length) return 1;
    var top = all[0].offsetTop;
    return Math.max(1, all.filter(function (c) { return c.offsetTop === top; }).length);
  };
  var move = function (by) {
    var all = cells();
    var at = all.indexOf(document.activeElement.closest ? document.activeElement.closest("[data-cell]") : null);
    var next = all[Math.max(0, Math.min(all.length - 1, (at < 0 ? 0 : at + by)))];
    if (next) next.focus();
  };
  var showPicks = function () {
    cells().forEach(function (c) { c.classList.toggle("picked", picks.indexOf(c.dataset.edit) >= 0); });
    if (picksNote) picksNote.textContent = picks.length ? "A/B: picked " + picks.length + " of 2" : "";
  };
  document.addEventListener("keydown", function (e) {
    var tag = (e.target.tagName || "").toLowerCase();
    if ((tag === "input" && e.target.type !== "range" && e.target.type !== "checkbox") || tag === "textarea" || tag === "select") return;
    if (e.ctrlKey || e.metaKey || e.altKey) return;
    var cell = document.activeElement && document.activeElement.closest ? document.activeElement.closest("[data-cell]") : null;
    if (e.key === " ") { e.preventDefault(); play(!playing); }
    else if (e.key === ",") { e.preventDefault(); step(-1); }
    else if (e.key === ".") { e.preventDefault(); step(1); }
    else if (e.key === "l" || e.key === "L") { loop.checked = !loop.checked; }
    else if (e.key === "ArrowRight") { e.preventDefault(); move(1); }
    else if (e.key === "ArrowLeft") { e.preventDefault(); move(-1); }
    else if (e.key === "ArrowDown") { e.preventDefault(); move(columns()); }
    else if (e.key === "ArrowUp") { e.preventDefault(); move(-columns()); }
    else if (e.key === "Enter" && cell && cell.dataset.compareUrl) { e.preventDefault(); window.location = cell.dataset.compareUrl; }
    else if ((e.key === "s" || e.key === "S") && cell) {
      var star = cell.querySelector("[data-star]");
      if (star) { e.preventDefault(); star.click(); cell.classList.toggle("starred"); }
    }
    else if (/^[1-9]$/.test(e.key)) {
      var chosen = grid.querySelector('[data-cell][data-number="' + e.key + '"]');
      if (!chosen || !chosen.dataset.compareUrl) return;
      var pk = chosen.dataset.edit;
      var at = picks.indexOf(pk);
      if (at >= 0) picks.splice(at, 1); else picks.push(pk);
      showPicks();
      if (picks.length === 2) {
        var first = grid.querySelector('[data-cell][data-edit="' + picks[1] + '"]');
        window.location = first.dataset.compareUrl + "?against=" + picks[0];
      }
    }
  });
  window.requestAnimationFrame(tick);
});

// Drawings on a paused frame: a pen, an arrow and a box in a few colours, kept as shapes in 0–1
// picture coordinates (so they scale with the player) and sent with the comment. Every comment's
// drawing is drawn over the video whenever playback is on its frame.
document.addEventListener("DOMContentLoaded", function () {
  var layer = document.querySelector("[data-draw-layer]");
  if (!layer) return;
  var host = layer.parentNode;
  var video = host.querySelector('video[data-role="b"]') || host.querySelector("video");
  var fpsNode = document.getElementById("compare-fps");
  var fps = fpsNode ? parseFloat(fpsNode.textContent) || 25 : 25;
  var ctx = layer.getContext("2d");
  var shapes = [];
  var current = null;
  var active = false;
  var tools = function () { return document.querySelector("[data-draw-tools]"); };
  var pressed = function (selector) {
    var el = tools() && tools().querySelector(selector + '[aria-pressed="true"]');
    return el;
  };
  var tool = function () { var el = pressed("[data-tool]"); return el ? el.dataset.tool : "box"; };
  var colour = function () { var el = pressed("[data-colour]"); return el ? el.dataset.colour : "#ff3b30"; };
  var save = function () {
    var input = document.querySelector("[data-drawing-input]");
    if (input) input.value = shapes.length ? JSON.stringify(shapes) : "";
  };
  var place = function () {
    // Cover the picture itself (not the caption or the controls).
    layer.style.left = video.offsetLeft + "px";
    layer.style.top = video.offsetTop + "px";
    layer.style.width = video.clientWidth + "px";
    layer.style.height = video.clientHeight + "px";
    var ratio = window.devicePixelRatio || 1;
    var w = Math.round(video.clientWidth * ratio), h = Math.round(video.clientHeight * ratio);
    if (layer.width !== w || layer.height !== h) { layer.width = w; layer.height = h; }
  };
  var drawShape = function (shape) {
    var w = layer.width, h = layer.height, p = shape.points;
    ctx.strokeStyle = shape.color;
    ctx.lineWidth = Math.max(2, w / 300);
    ctx.lineJoin = ctx.lineCap = "round";
    ctx.beginPath();
    if (shape.tool === "box") {
      ctx.strokeRect(p[0][0] * w, p[0][1] * h, (p[1][0] - p[0][0]) * w, (p[1][1] - p[0][1]) * h);
      return;
    }
    ctx.moveTo(p[0][0] * w, p[0][1] * h);
    for (var i = 1; i < p.length; i++) ctx.lineTo(p[i][0] * w, p[i][1] * h);
    ctx.stroke();
    if (shape.tool === "arrow") {
      var x1 = p[0][0] * w, y1 = p[0][1] * h, x2 = p[1][0] * w, y2 = p[1][1] * h;
      var angle = Math.atan2(y2 - y1, x2 - x1), size = Math.max(10, w / 60);
      ctx.beginPath();
      ctx.moveTo(x2, y2);
      ctx.lineTo(x2 - size * Math.cos(angle - 0.45), y2 - size * Math.sin(angle - 0.45));
      ctx.moveTo(x2, y2);
      ctx.lineTo(x2 - size * Math.cos(angle + 0.45), y2 - size * Math.sin(angle + 0.45));
      ctx.stroke();
    }
  };
  var render = function () {
    place();
    ctx.clearRect(0, 0, layer.width, layer.height);
    var t = video.currentTime;
    document.querySelectorAll("[data-comment][data-drawing]").forEach(function (el) {
      if (Math.abs(parseFloat(el.dataset.seconds) - t) > 0.5 / fps) return;
      try { JSON.parse(el.dataset.drawing).forEach(drawShape); } catch (e) { /* a drawing that does not parse is skipped */ }
    });
    shapes.forEach(drawShape);
    if (current) drawShape(current);
    layer.dataset.shapes = String(shapes.length);
    window.requestAnimationFrame(render);
  };
  var at = function (e) {
    var box = layer.getBoundingClientRect();
    return [Math.min(1, Math.max(0, (e.clientX - box.left) / box.width)), Math.min(1, Math.max(0, (e.clientY - box.top) / box.height))];
  };
  layer.addEventListener("pointerdown", function (e) {
    if (!active) return;
    e.preventDefault();
    video.pause();
    layer.setPointerCapture(e.pointerId);
    var p = at(e);
    current = { tool: tool(), color: colour(), points: [p, p] };
  });
  layer.addEventListener("pointermove", function (e) {
    if (!current) return;
    var p = at(e);
    if (current.tool === "pen") { if (current.points.length < 400) current.points.push(p); }
    else current.points[1] = p;
  });
  layer.addEventListener("pointerup", function () {
    if (!current) return;
    var p = current.points;
    if (current.tool === "pen" ? p.length > 2 : Math.abs(p[1][0] - p[0][0]) + Math.abs(p[1][1] - p[0][1]) > 0.01) shapes.push(current);
    current = null;
    save();
  });
  document.addEventListener("click", function (e) {
    var box = tools();
    if (!box || !box.contains(e.target)) return;
    var button = e.target.closest("button");
    if (!button) return;
    if (button.hasAttribute("data-draw-toggle")) {
      active = !active;
      button.setAttribute("aria-pressed", String(active));
      layer.classList.toggle("drawing", active);
      // The player's own controls would sit over the bottom of the picture while drawing.
      if (video.hasAttribute("data-had-controls") || video.controls) {
        video.setAttribute("data-had-controls", "");
        video.controls = !active;
      }
      if (active) video.pause();
    } else if (button.hasAttribute("data-draw-clear")) {
      shapes = [];
      save();
    } else if (button.dataset.tool || button.dataset.colour) {
      var kind = button.dataset.tool ? "[data-tool]" : "[data-colour]";
      box.querySelectorAll(kind).forEach(function (b) { b.setAttribute("aria-pressed", String(b === button)); });
    }
  });
  // A sent comment takes its drawing with it.
  document.addEventListener("htmx:afterRequest", function (e) {
    if (e.detail.successful && e.detail.elt && e.detail.elt.matches && e.detail.elt.matches("[data-comment-form]")) { shapes = []; active = false; layer.classList.remove("drawing"); }
  });
  window.requestAnimationFrame(render);
});

// A review playlist on a share link: [ and ] step to the previous and next version.
document.addEventListener("keydown", function (e) {
  var tag = (e.target.tagName || "").toLowerCase();
  if (tag === "input" || tag === "textarea" || tag === "select" || e.ctrlKey || e.metaKey || e.altKey) return;
  var link = e.key === "[" ? document.querySelector("[data-key-previous]") : e.key === "]" ? document.querySelector("[data-key-next]") : null;
  if (link) { e.preventDefault(); window.location = link.href; }
});

// A refused prompt's suggestions: a click puts one in the prompt, ready to run.
document.addEventListener("click", function (e) {
  var button = e.target.closest ? e.target.closest("[data-fill-prompt]") : null;
  if (!button) return;
  var prompt = document.getElementById("id_prompt");
  if (!prompt) return;
  prompt.value = button.dataset.fillPrompt;
  prompt.dispatchEvent(new Event("input", { bubbles: true }));
  prompt.focus();
});

// Preview on this frame: the edit form's local plan rendered on the paused source frame, shown next
// to that frame. P asks for it from anywhere outside a text field.
document.addEventListener("DOMContentLoaded", function () {
  var button = document.querySelector("[data-preview-button]");
  var video = document.getElementById("source-video");
  var form = document.getElementById("edit-form");
  if (!button || !video || !form) return;
  var box = document.querySelector("[data-preview]");
  var status = box.querySelector("[data-preview-status]");
  var image = box.querySelector("[data-preview-image]");
  var original = box.querySelector("[data-preview-original]");
  var summary = box.querySelector("[data-preview-summary]");
  var busy = false;
  var run = function () {
    if (busy) return;
    busy = true;
    video.pause();
    var data = new FormData(form);
    ["mask", "recipe"].forEach(function (name) { data.delete(name); });
    var painted = document.querySelector("[data-mask-state]");
    data.set("has_mask", painted && /painted/i.test(painted.textContent) && !/No mask/.test(painted.textContent) ? "on" : "");
    data.set("seconds", String(video.currentTime || 0));
    box.hidden = false;
    status.textContent = "Rendering this frame…";
    original.width = video.videoWidth; original.height = video.videoHeight;
    try { original.getContext("2d").drawImage(video, 0, 0); } catch (e) { /* the frame is not decoded yet */ }
    var started = performance.now();
    fetch(button.dataset.previewUrl, { method: "POST", body: data, headers: { "X-CSRFToken": data.get("csrfmiddlewaretoken") || "" } })
      .then(function (r) { return r.json().then(function (body) { return { ok: r.ok, body: body }; }); })
      .then(function (reply) {
        if (!reply.ok) {
          status.textContent = reply.body.error || "The preview could not be made.";
          box.dataset.state = "error";
          return;
        }
        image.src = reply.body.image;
        summary.textContent = reply.body.summary;
        status.textContent = "At " + video.currentTime.toFixed(2) + " s · " + Math.round(performance.now() - started) + " ms" + (reply.body.notes.length ? " · " + reply.body.notes.join(" ") : "");
        box.dataset.state = "done";
      })
      .catch(function () { status.textContent = "The preview could not be made."; box.dataset.state = "error"; })
      .then(function () { busy = false; });
  };
  button.addEventListener("click", run);
  document.addEventListener("keydown", function (e) {
    var tag = (e.target.tagName || "").toLowerCase();
    if (tag === "input" || tag === "textarea" || tag === "select" || e.ctrlKey || e.metaKey || e.altKey) return;
    if (e.key === "p" || e.key === "P") { e.preventDefault(); run(); }
  });
});

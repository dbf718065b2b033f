/* The crisis-aware, accessible chat widget: rasa-webchat 1.0.1 (from npm, unchanged), mounted
 * with our props, styled by chat.css and watched by this script. bot/web/app.py serves it as
 * /embed.js with the server's part of the configuration (SERVER) filled in.
 *
 * A site embeds it with one script tag (README, "Embedding the widget"):
 *   <script src="https://CHAT-HOST/embed.js" defer data-socket-url="https://RASA-HOST"></script>
 * Options (data-* attributes of that tag), all optional:
 *   socket-url   Rasa's address (default: this page's host name on Rasa's PORT)
 *   title, subtitle, placeholder, label    texts of the header, the input and the chat region
 *   open-in      a CSS selector: show the chat open inside that element instead of behind a launcher
 *   storage      "session" (default: the conversation is kept until the tab closes) or "local"
 * Colours are CSS custom properties of chat.css.
 *
 * What it adds to the widget:
 * - Crisis: once the server marks a message of the conversation as a crisis one (metadata.crisis,
 *   bot/channels/socketio.py), a banner with the emergency number, the crisis line (call or
 *   text) and the center's line stays above the messages for the rest of the session; the flag
 *   is kept in the widget's own storage, so a reload keeps it. Crisis messages carry the
 *   server's classes (crisis-message, crisis-emergency, crisis-reminder, crisis-start), styled
 *   by chat.css, and are announced as such.
 * - Accessibility: names for the launcher, the chat, the messages, the input and its buttons;
 *   quick replies reachable with Tab and used with Enter or Space; Escape closes the chat and
 *   focus returns to the launcher; new bot messages are announced in live regions (polite; the
 *   first part of an emergency reply assertive, with "Emergency message:" before it).
 * - Safety: a link in a message keeps its href only for http, https, tel and sms addresses
 *   (the server sends no other, and the demo page's CSP would block a javascript: URL anyway).
 * - A lost connection keeps the widget, the banner and the conversation in view ("Waiting for
 *   server..."), and the tooltips shown beside a closed launcher are off.
 */
(function () {
  "use strict";

  var SERVER = /*SERVER*/ {};
  var SAFE_PROTOCOLS = ["http:", "https:", "tel:", "sms:"];
  var FLAG_KEY = "safechat_crisis";

  var script = document.currentScript;
  var options = (script && script.dataset) || {};
  var assetBase = script && script.src ? new URL(".", script.src).href : new URL("/", window.location.href).href;
  var storageName = options.storage === "local" ? "local" : "session";
  var TEXT = {
    label: options.label || "Chat with our automated assistant",
    open: "Open the chat",
    close: "Close the chat",
    fullscreen: "Full screen",
    messages: "Conversation",
    input: "Your question",
    send: "Send",
    replies: "Suggested questions and calls",
    emergency: "Emergency message: ",
    reminder: "Safety reminder: ",
    banner: "Emergency numbers",
    bannerText: "In danger now? Call " + SERVER.emergencyNumber + ". To talk with someone, call or text " +
      SERVER.crisisLine + ", any time.",
    notice: "This chat is stored and read by our staff for " + SERVER.retentionDays + " days. ",
    noticeLink: "How we handle your conversation"
  };

  var root = null;          // our element around the widget
  var mountPoint = null;    // where React renders rasa-webchat
  var live = {};            // the live regions
  var banner = null;        // the crisis banner, built once
  var notice = null;        // the privacy notice, built once
  var seen = new WeakSet(); // bot message wrappers already handled
  var pending = 0;          // bot messages received from the server and not yet shown
  var embedded = false;     // shown open inside an element of the page (no launcher)
  var wasOpen = false;
  var scheduled = false;

  function storage() {
    try {
      return storageName === "local" ? window.localStorage : window.sessionStorage;
    } catch (e) {
      return null;
    }
  }

  function flagged() {
    var s = storage();
    return Boolean(s && s.getItem(FLAG_KEY) === "1");
  }

  function flag() {
    var s = storage();
    if (s && !flagged()) {
      s.setItem(FLAG_KEY, "1");
    }
    schedule();
  }

  function attr(el, name, value) {
    if (el && el.getAttribute(name) !== value) {
      el.setAttribute(name, value);
    }
  }

  function element(tag, className, text) {
    var el = document.createElement(tag);
    if (className) {
      el.className = className;
    }
    if (text) {
      el.textContent = text;
    }
    return el;
  }

  function liveRegion(kind) {
    var el = element("div", "safechat-sr-only safechat-live-" + kind);
    if (kind === "assertive") {
      el.setAttribute("role", "alert");
    } else {
      el.setAttribute("role", "log");
      el.setAttribute("aria-live", "polite");
    }
    return el;
  }

  function announce(text, urgent) {
    var region = urgent ? live.assertive : live.polite;
    region.appendChild(element("p", "", text));
    while (region.childNodes.length > 6) {
      region.removeChild(region.firstChild);
    }
  }

  function buildBanner() {
    var box = element("div", "safechat-banner");
    box.setAttribute("role", "region");
    box.setAttribute("aria-label", TEXT.banner);
    box.appendChild(element("p", "safechat-banner-text", TEXT.bannerText));
    var list = element("ul", "safechat-banner-links");
    [
      ["Call " + SERVER.emergencyNumber, "tel:" + SERVER.emergencyNumber],
      ["Call " + SERVER.crisisLine, "tel:" + SERVER.crisisLine],
      ["Text " + SERVER.crisisLine, "sms:" + SERVER.crisisLine],
      ["Call us " + SERVER.centerPhone, "tel:" + SERVER.centerDial]
    ].forEach(function (link) {
      var a = element("a", "", link[0]);
      a.href = link[1];
      var item = element("li");
      item.appendChild(a);
      list.appendChild(item);
    });
    box.appendChild(list);
    return box;
  }

  function buildNotice() {
    var p = element("p", "safechat-notice", TEXT.notice);
    var link = element("a", "safechat-notice-link", TEXT.noticeLink);
    link.setAttribute("href", new URL("privacy", assetBase).href);
    link.setAttribute("target", "_blank");
    link.setAttribute("rel", "noopener");
    p.appendChild(link);
    return p;
  }

  function guardLink(a) {
    var protocol = "";
    try {
      protocol = new URL(a.getAttribute("href"), window.location.href).protocol;
    } catch (e) {
      protocol = "";
    }
    if (SAFE_PROTOCOLS.indexOf(protocol) < 0) {
      a.removeAttribute("href");
      a.removeAttribute("target");
      a.setAttribute("data-unsafe-link", "");
    } else if (protocol === "tel:" || protocol === "sms:") {
      a.removeAttribute("target"); // dial in place, no blank tab
    }
  }

  function messageText(wrapper) {
    var bubble = wrapper.querySelector(".rw-response");
    if (!bubble) {
      return null;
    }
    var text = (bubble.querySelector(".rw-message-text") || bubble).innerText.trim();
    if (bubble.classList.contains("crisis-emergency")) {
      var start = bubble.classList.contains("crisis-start");
      return { text: (start ? TEXT.emergency : "") + text, urgent: start };
    }
    if (bubble.classList.contains("crisis-reminder")) {
      return { text: TEXT.reminder + text, urgent: false };
    }
    return { text: text, urgent: false };
  }

  function announceNew(conversation) {
    var fresh = [];
    conversation.querySelectorAll(".rw-from-response > .rw-message").forEach(function (wrapper) {
      if (!seen.has(wrapper)) {
        seen.add(wrapper);
        fresh.push(wrapper);
      }
    });
    var count = Math.min(pending, fresh.length); // restored history (no message received) stays silent
    pending -= count;
    fresh.slice(fresh.length - count).forEach(function (wrapper) {
      window.setTimeout(function () { // after the widget has set the message's classes
        var message = messageText(wrapper);
        if (message && message.text) {
          announce(message.text, message.urgent);
        }
      }, 30);
    });
  }

  function enhance() {
    scheduled = false;
    var launcher = root.querySelector(".rw-launcher");
    var conversation = root.querySelector(".rw-conversation-container");
    var open = Boolean(conversation);
    if (launcher) {
      attr(launcher, "aria-label", open ? TEXT.close : TEXT.open);
      attr(launcher, "aria-expanded", String(open));
      if (wasOpen && !open && (!document.activeElement || document.activeElement === document.body)) {
        launcher.focus();
      }
    }
    wasOpen = open;
    if (!conversation) {
      return;
    }
    attr(conversation.querySelector(".rw-title"), "aria-level", "2"); // the widget's h4 follows the page's h1
    attr(conversation.querySelector(".rw-close-button"), "aria-label", TEXT.close);
    attr(conversation.querySelector(".rw-toggle-fullscreen-button"), "aria-label", TEXT.fullscreen);
    var messages = conversation.querySelector(".rw-messages-container");
    if (messages) {
      attr(messages, "role", "region");
      attr(messages, "aria-label", TEXT.messages);
      attr(messages, "tabindex", "0"); // scrollable with the keyboard
    }
    attr(conversation.querySelector(".rw-new-message"), "aria-label", TEXT.input);
    attr(conversation.querySelector(".rw-send"), "aria-label", TEXT.send);
    conversation.querySelectorAll(".rw-replies").forEach(function (group) {
      attr(group, "role", "group");
      attr(group, "aria-label", TEXT.replies);
    });
    conversation.querySelectorAll("div.rw-reply").forEach(function (reply) {
      attr(reply, "role", "button");
      attr(reply, "tabindex", "0");
    });
    conversation.querySelectorAll(".rw-typing-indication").forEach(function (typing) {
      attr(typing, "aria-hidden", "true");
    });
    root.querySelectorAll(".rw-conversation-container a[href], .rw-launcher a[href]").forEach(guardLink);
    if (conversation.querySelector(".crisis-message") && !flagged()) {
      flag();
    }
    var sender = conversation.querySelector(".rw-sender");
    if (sender) { // the one-line privacy notice, above the input (issue 11: visitors are told plainly)
      notice = notice || buildNotice();
      if (notice.nextSibling !== sender) {
        sender.parentNode.insertBefore(notice, sender);
      }
    }
    if (flagged() && messages) {
      banner = banner || buildBanner();
      if (banner.parentNode !== conversation || banner.nextSibling !== messages) {
        conversation.insertBefore(banner, messages);
      }
    }
    announceNew(conversation);
  }

  function schedule() {
    if (!scheduled && root) {
      scheduled = true;
      Promise.resolve().then(enhance);
    }
  }

  function focusSoon(selector) {
    window.setTimeout(function () {
      var target = root.querySelector(selector);
      if (target) {
        target.focus();
      }
    }, 50);
  }

  function onKeyDown(event) {
    var target = event.target;
    var isReply = target.matches && target.matches("div.rw-reply");
    if (isReply && (event.key === "Enter" || event.key === " ")) {
      event.preventDefault();
      target.click();
      focusSoon(".rw-new-message");
    } else if (event.key === "Escape" && !embedded) {
      var launcher = root.querySelector(".rw-launcher");
      if (launcher && root.querySelector(".rw-conversation-container")) {
        event.preventDefault();
        launcher.click();
        focusSoon(".rw-launcher");
      }
    }
  }

  function onBotUttered(message) {
    if (message && message.text) {
      pending += 1;
    }
    if (message && message.metadata && message.metadata.crisis) {
      flag();
    }
  }

  function props() {
    return {
      socketUrl: options.socketUrl || window.location.protocol + "//" + window.location.hostname + ":" + SERVER.rasaPort,
      socketPath: "/socket.io/",
      initPayload: "hello",
      title: options.title || "Ask us",
      subtitle: options.subtitle || "Automated assistant",
      inputTextFieldHint: options.placeholder || "Type your question...",
      embedded: embedded,
      showFullScreenButton: !embedded,
      disableTooltips: true,
      hideWhenNotConnected: false, // a lost connection must not take the banner and the history away
      customMessageDelay: function (text) {
        return Math.min(1200, Math.max(300, (text || "").length * 8));
      },
      params: { storage: storageName },
      onSocketEvent: { bot_uttered: onBotUttered }
    };
  }

  function start() {
    var container = options.openIn ? document.querySelector(options.openIn) : null;
    embedded = Boolean(container);
    root = container || document.body.appendChild(element("div"));
    root.classList.add("safechat-root");
    root.classList.toggle("safechat-open-in", embedded);
    if (!root.getAttribute("role")) {
      root.setAttribute("role", "region");
      root.setAttribute("aria-label", TEXT.label);
    }
    mountPoint = root.appendChild(element("div", "safechat-mount"));
    live.polite = root.appendChild(liveRegion("polite"));
    live.assertive = root.appendChild(liveRegion("assertive"));
    root.addEventListener("keydown", onKeyDown);
    new MutationObserver(schedule).observe(root, { childList: true, subtree: true });
    window.WebChat.default(props(), mountPoint);
    schedule();
  }

  function load() {
    var css = element("link");
    css.rel = "stylesheet";
    css.href = assetBase + "chat.css";
    document.head.appendChild(css);
    if (window.WebChat) {
      start();
      return;
    }
    var bundle = element("script");
    bundle.src = assetBase + "webchat.js";
    bundle.onload = start;
    bundle.onerror = function () {
      window.console.error("the chat widget could not be loaded from " + bundle.src);
    };
    document.head.appendChild(bundle);
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", load);
  } else {
    load();
  }
}());

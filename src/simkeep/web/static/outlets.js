// The outlet finder (/outlets): a Leaflet map with a marker for each outlet in the list, and
// the "near me" button that fills the latitude and longitude from the browser's location.
// The page works without this script: the list is the page, and a point can be typed.
"use strict";

(function () {
  var FALLBACK_CENTRE = [22.3193, 114.1694]; // Hong Kong, when there is nothing to show

  function nearMe() {
    var button = document.getElementById("near-me");
    var form = document.getElementById("finder-form");
    var status = document.getElementById("near-me-status");
    if (!button || !form || !navigator.geolocation) {
      return;
    }
    button.hidden = false;
    button.addEventListener("click", function () {
      status.textContent = button.dataset.locating;
      navigator.geolocation.getCurrentPosition(
        function (position) {
          form.elements.lat.value = position.coords.latitude.toFixed(6);
          form.elements.lon.value = position.coords.longitude.toFixed(6);
          form.submit();
        },
        function () {
          status.textContent = button.dataset.refused;
        },
        { enableHighAccuracy: false, timeout: 15000, maximumAge: 300000 }
      );
    });
  }

  function popup(name, item) {
    var box = document.createElement("div");
    var link = document.createElement("a");
    link.href = "#" + item.id;
    link.textContent = name; // text, never markup: names are data
    box.appendChild(link);
    return box;
  }

  function drawMap() {
    var element = document.getElementById("outlet-map");
    if (!element || !window.L) {
      return;
    }
    var map = L.map(element, { scrollWheelZoom: false });
    var tiles = element.dataset.tiles;
    if (tiles) {
      L.tileLayer(tiles, { maxZoom: 19, attribution: element.dataset.attribution }).addTo(map);
    }
    var points = [];
    document.querySelectorAll(".outlet[data-lat]").forEach(function (item) {
      var at = [parseFloat(item.dataset.lat), parseFloat(item.dataset.lon)];
      var marker = L.marker(at, { title: item.dataset.name, alt: item.dataset.name });
      marker.bindPopup(popup(item.dataset.name, item)).addTo(map);
      marker.on("click", function () {
        document.querySelectorAll(".outlet--picked").forEach(function (other) {
          other.classList.remove("outlet--picked");
        });
        item.classList.add("outlet--picked");
      });
      points.push(at);
    });
    if (element.dataset.nearLat) {
      var here = [parseFloat(element.dataset.nearLat), parseFloat(element.dataset.nearLon)];
      L.circleMarker(here, { radius: 7, color: "#08523b", fillOpacity: 0.9 })
        .bindTooltip(element.dataset.nearLabel)
        .addTo(map);
      points.push(here);
    }
    if (points.length) {
      map.fitBounds(points, { padding: [24, 24], maxZoom: 16 });
    } else {
      map.setView(FALLBACK_CENTRE, 10);
    }
  }

  document.addEventListener("DOMContentLoaded", function () {
    nearMe();
    drawMap();
  });
})();

/**
 * The student's page in Spanish speaks to the student as "tú", in words a 9-year-old follows:
 * these messages replace their "usted" form of i18n/es.ts when the link is a student's
 * (language.ts, audience `child`). What speaks to the parent or guardian (consent, the consent
 * dialogs) and technical help for the adult who fixes it (network problems, errors) stay "usted".
 * Only keys of the catalogue, never empty, same placeholders (test/unit/client-i18n.test.ts).
 */
import type { Catalogue } from './catalogue.ts';

export const esChild: Partial<Catalogue> = {
  'status.checking': 'Revisando tu enlace…',
  'prejoin.who': 'Entras como: {role}. Este enlace funciona hasta el {until}.',
  'prejoin.preview': 'Tu cámara',
  'prejoin.noPicture': 'No se ve la cámara',
  'prejoin.watchOnly': 'Con tu enlace puedes ver y escuchar: no se usan tu cámara ni tu micrófono.',
  'prejoin.levelHint': 'Di algo: la barra se mueve cuando el micrófono te escucha.',
  'prejoin.problem': 'La cámara o el micrófono no funcionan. {problem} Pide a un adulto que revise que ninguna otra aplicación los esté usando y que esta página tenga permiso (el dibujo de la cámara arriba, junto a la dirección), y prueba otra vez. Puedes entrar igual: los demás no verán ni oirán lo que no funciona.',
  'capture.noApi': 'Esta página no puede usar tu cámara ni tu micrófono (necesita https o otro navegador).',
  'capture.mic': 'No se pudo abrir tu micrófono: {reason}.',
  'capture.camera': 'No se pudo abrir tu cámara: {reason}.',
  'capture.both': 'No se pudo abrir tu micrófono ni tu cámara: {reason}.',
  'capture.NotAllowedError': 'no se dio permiso (permítelo arriba, junto a la dirección, y vuelve a entrar)',
  'form.where': '¿Dónde estás ahora?',
  'form.whereHint': 'Tu terapeuta necesita saberlo para conseguirte ayuda si hay una emergencia. Solo tu terapeuta lo ve, y se guarda en secreto en el registro de la sesión.',
  'form.placeExample': 'Tu escuela y salón, o la dirección de tu casa',
  'form.regionChoose': 'Elige tu estado o región…',
  'form.contact': '¿A quién llamamos si hay una emergencia?',
  'form.contactOptional': '¿A quién llamamos si hay una emergencia? (opcional)',
  'form.contactHint': 'Un adulto que pueda llegar rápido si necesitas ayuda: tu mamá, tu papá, tu tutor o alguien de la escuela.',
  'form.consentIntroGuardian': 'Tu mamá, tu papá o tu tutor tiene que aceptar antes de que entres a una sesión por video. Pídele que llene esta parte contigo.',
  'form.needPlace': 'Escribe dónde estás ahora (por ejemplo, tu escuela y tu salón).',
  'form.needRegion': 'Elige tu estado o región de la lista.',
  'form.needContact': 'Escribe el nombre y el teléfono de un adulto al que podamos llamar si hay una emergencia.',
  'form.needBoth': 'Escribe el nombre y también el teléfono del contacto de emergencia.',
  'call.waiting': 'Ya estás en la sesión. Esperando a que entren los demás.',
  'call.left': 'Saliste de la sesión.',
  'call.you': 'Tú',
  'call.youAs': 'Tú ({role})',
  'call.yourScreen': 'Tu pantalla',
  'panic.silent': 'En silencio: solo se avisa a tu terapeuta y al equipo de seguridad; no aparece nada en la pantalla',
  'panic.notConnected': 'Todavía no hay conexión: primero entra a la sesión, o pide ayuda de otra forma.',
  'panic.sent': 'Alarma enviada. Ya se avisó a tu terapeuta y al equipo de seguridad, y van a ayudarte.',
  'panic.notJoined': 'No se pudo enviar la alarma: no estás en la sesión. Pide ayuda de otra forma.',
  'panic.failed': 'No se pudo enviar la alarma ({code}). Pide ayuda de otra forma.',
  'panic.retrying': 'Todavía enviando la alarma: la conexión es mala. No cierres esta página.',
  'panic.cancelled': 'Avisaste que la alarma fue un error; tu terapeuta va a hablar contigo.',
  'panic.announce': 'Alguien activó una alarma en esta sesión. Ya se pidió ayuda; haz lo que te diga tu terapeuta.',
  'raiser.has': '{responder} tiene tu alarma y te está ayudando.',
  'raiser.hasSince': '{responder} tiene tu alarma desde las {time} y te está ayudando.',
  'raiser.closedBy': 'Cerró tu alarma {responder}: {outcome}.',
  'raiser.closedByAt': 'Cerró tu alarma {responder} a las {time}: {outcome}.',
  'responder.clinician': 'Tu terapeuta ({identity})',
  'responder.clinicianInSentence': 'tu terapeuta ({identity})',
};
